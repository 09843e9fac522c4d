//! `waybill-bench`: the sync benchmark (release build, not a timed test).
//!
//! A real `waybill-server` process on 127.0.0.1 (data directory on the
//! medium given, SQLite `synchronous=FULL`), devices as agent libraries in
//! this process, each with its own SQLite store on the same medium. Order
//! documents have a header of about 8 fields; each event (id, type, GTIN,
//! bin, quantity, time: a short-pick) is its own Automerge change.
//!
//! `cargo run --release -p waybill-tests --bin waybill-bench -- [--dir /dev/shm] [--quick] [--only w1|w2|w3|w4|w5]`

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use waybill_agent::Agent;
use waybill_shared::doc::DocId;
use waybill_shared::event::warehouse::ShortReason;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn exe(name: &str) -> Res<PathBuf> {
    Ok(std::env::current_exe()?.parent().ok_or("no exe dir")?.join(name))
}

struct ServerProc {
    child: Child,
    data: PathBuf,
    addr: std::net::SocketAddr,
    http: std::net::SocketAddr,
}

/// The office API token the bench's server runs with.
const TOKEN: &str = "bench";

impl ServerProc {
    fn start(data: &Path) -> Res<Self> {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
        let http = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut child = Command::new(exe("waybill-server")?)
            .arg("--data")
            .arg(data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--http", &http.to_string()])
            .env("RUST_LOG", "warn")
            .env("WAYBILL_OFFICE_TOKEN", TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut out = std::io::BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut line = String::new();
        while !line.starts_with("office API") {
            line.clear();
            if std::io::BufRead::read_line(&mut out, &mut line)? == 0 {
                return Err("the server did not start".into());
            }
        }
        Ok(Self { child, data: data.to_path_buf(), addr: format!("127.0.0.1:{port}").parse()?, http })
    }

    fn cli(&self, args: &[&str]) -> Res<serde_json::Value> {
        let out = Command::new(exe("waybill-server")?)
            .arg("--data")
            .arg(&self.data)
            .arg("--json")
            .args(args)
            .output()?;
        if !out.status.success() {
            return Err(format!("waybill-server {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null))
    }

    /// Peak resident memory so far, MiB.
    fn peak_rss_mb(&self) -> Res<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb: f64 = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .ok_or("no VmHWM")?
            .parse()?;
        Ok(kb / 1024.0)
    }

    async fn enrol(&self, dir: &Path, device: &str, role: &str, location: Option<&str>) -> Res<Agent> {
        let mut args = vec!["enrol", "--device", device, "--role", role];
        if let Some(l) = location {
            args.extend(["--location", l]);
        }
        let v = self.cli(&args)?;
        let (code, fp) = (v["code"].as_str().ok_or("no code")?, v["fingerprint"].as_str().ok_or("no fp")?);
        Ok(Agent::enrol(&dir.join(format!("{device}.db")), self.addr, code, fp).await?)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A seed of `orders` orders (one line of `qty` units), order i assigned to
/// picker `device(i)`, at location wh-1 with bin A-01.
fn seed(path: &Path, orders: usize, qty: u32, device: impl Fn(usize) -> String) -> Res<()> {
    let orders: Vec<_> = (0..orders)
        .map(|i| {
            json!({
                "id": format!("SO-{i}"), "customer": format!("C-{}", i % 97),
                "ship_to": {"name": "N", "line1": format!("{i} Main St"), "city": "Town", "postcode": "1000", "country": "GB"},
                "lines": [{"line": 1, "gtin": "09506000134352", "description": "Gear", "quantity": qty}],
                "promised": "2026-12-01", "location": "wh-1", "created_at": "2026-11-23T08:00:00Z",
                "allocations": [{"line": 1, "location": "wh-1", "quantity": qty}],
                "pick_device": device(i),
            })
        })
        .collect();
    let seed = json!({
        "locations": [{"id": "wh-1", "name": "W", "bins": [{"id": "A-01", "walk": 1}], "epoch": 0,
                       "opening": [{"bin": "A-01", "gtin": "09506000134352", "quantity": 1000000}]}],
        "orders": orders,
    });
    std::fs::write(path, serde_json::to_vec(&seed)?)?;
    Ok(())
}

/// Records `per_order` short-picks on each of the device's orders.
fn work(agent: &mut Agent, per_order: u32) -> Res<usize> {
    let orders: Vec<_> = agent
        .documents()?
        .into_iter()
        .filter_map(|d| match d {
            DocId::Order(o) => Some(o),
            _ => None,
        })
        .collect();
    for o in &orders {
        for _ in 0..per_order {
            agent.short_pick(o, 1, "A-01", 1, ShortReason::NotFound)?;
        }
    }
    Ok(orders.len() * per_order as usize)
}

struct Row {
    name: String,
    measured: String,
    target: String,
    met: bool,
}

/// W1/W2: one device with `orders` orders x 5 offline events catches up.
async fn catch_up(root: &Path, orders: usize, rows: &mut Vec<Row>, label: &str, target_ms: f64) -> Res<()> {
    let dir = root.join(format!("catchup-{orders}"));
    std::fs::create_dir_all(&dir)?;
    let server = ServerProc::start(&dir.join("server"))?;
    seed(&dir.join("seed.json"), orders, 5, |_| "bench-1".into())?;
    server.cli(&["import", dir.join("seed.json").to_str().ok_or("path")?])?;
    let mut agent = server.enrol(&dir, "bench-1", "picker", Some("wh-1")).await?;
    let t = Instant::now();
    let cold = agent.sync_once().await?;
    let cold_ms = t.elapsed().as_secs_f64() * 1e3;
    let events = work(&mut agent, 5)?;
    let t = Instant::now();
    let report = agent.sync_once().await?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(report.pending_events, 0, "everything durable on the server");
    rows.push(Row {
        name: format!("{label} catch-up: {orders} orders x 5 events ({events} events)"),
        measured: format!("{ms:.0} ms"),
        target: format!("<= {target_ms:.0} ms"),
        met: ms <= target_ms,
    });
    if orders == 200 {
        let kb = report.bytes_sent as f64 / 1024.0;
        rows.push(Row {
            name: "W1 bytes on the wire, device to server".into(),
            measured: format!("{kb:.0} KB"),
            target: "<= 150 KB".into(),
            met: kb <= 150.0,
        });
    }
    if orders == 2000 {
        let mb = server.peak_rss_mb()?;
        rows.push(Row {
            name: "server peak RSS during W2".into(),
            measured: format!("{mb:.1} MB"),
            target: "<= 48 MB".into(),
            met: mb <= 48.0,
        });
        rows.push(Row {
            name: format!("cold start of a device whose scope is {} orders", cold.in_scope - 1),
            measured: format!("{cold_ms:.0} ms"),
            target: "<= 1000 ms".into(),
            met: cold_ms <= 1000.0,
        });
    }
    Ok(())
}

/// W3: `devices` devices at once, each 20 orders x 10 events.
async fn fleet(root: &Path, devices: usize, rows: &mut Vec<Row>) -> Res<()> {
    let dir = root.join(format!("fleet-{devices}"));
    std::fs::create_dir_all(&dir)?;
    let server = ServerProc::start(&dir.join("server"))?;
    seed(&dir.join("seed.json"), devices * 20, 10, |i| format!("dev-{}", i / 20))?;
    server.cli(&["import", dir.join("seed.json").to_str().ok_or("path")?])?;
    let mut agents = Vec::new();
    let mut events = 0;
    for d in 0..devices {
        let mut a = server.enrol(&dir, &format!("dev-{d}"), "picker", Some("wh-1")).await?;
        a.sync_once().await?;
        events += work(&mut a, 10)?;
        agents.push(a);
    }
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for mut a in agents {
        tasks.spawn(async move { a.sync_once().await.map(|r| r.pending_events) });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r??, 0);
    }
    let secs = t.elapsed().as_secs_f64();
    let rate = events as f64 / secs;
    rows.push(Row {
        name: format!("W3 fleet ingest: {devices} devices x 20 orders x 10 events ({events} events)"),
        measured: format!("{rate:.0} events/s ({secs:.2} s)"),
        target: ">= 30000 events/s".into(),
        met: rate >= 30_000.0,
    });
    Ok(())
}

/// W4: 20 devices connected holding the same 20 orders; an office change to
/// one order until every device has applied it.
async fn push_latency(root: &Path, changes: usize, rows: &mut Vec<Row>) -> Res<()> {
    let dir = root.join("push");
    std::fs::create_dir_all(&dir)?;
    let server = ServerProc::start(&dir.join("server"))?;
    seed(&dir.join("seed.json"), 20, 5, |_| "nobody".into())?;
    server.cli(&["import", dir.join("seed.json").to_str().ok_or("path")?])?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let stop = tokio_util_stop();
    let mut watchers = Vec::new();
    for d in 0..20 {
        let mut a = server.enrol(&dir, &format!("office-{d}"), "office", None).await?;
        a.sync_once().await?;
        let tx = tx.clone();
        let mut stop = stop.subscribe();
        watchers.push(tokio::spawn(async move {
            let _ = a
                .sync_watch_with(
                    async move {
                        let _ = stop.recv().await;
                    },
                    move |_| {
                        let _ = tx.send(Instant::now());
                    },
                )
                .await;
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The office changes an order through the server's API (as the office
    // does): timed from the request until all 20 devices applied it.
    let mut lat = Vec::new();
    for i in 0..changes {
        let body = format!(r#"{{"reason":"check {i}"}}"#);
        let path = format!("/api/orders/SO-{}/{}", i % 20, if i % 2 == 0 { "hold" } else { "release" });
        let t = Instant::now();
        office_post(server.http, &path, &body).await?;
        let mut last = t;
        for _ in 0..20 {
            last = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await?.ok_or("watchers gone")?;
        }
        lat.push((last - t).as_secs_f64() * 1e3);
    }
    let _ = stop.send(());
    for w in watchers {
        let _ = w.await;
    }
    lat.sort_by(f64::total_cmp);
    let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q).round() as usize];
    rows.push(Row {
        name: format!("W4 push latency, 20 devices, {changes} office changes through the API"),
        measured: format!("p50 {:.2} ms, p99 {:.2} ms", p(0.5), p(0.99)),
        target: "p99 <= 3 ms".into(),
        met: p(0.99) <= 3.0,
    });
    Ok(())
}

/// Memory while holding `orders` orders: a device with 200 of them in its
/// scope syncs its work; the server's peak resident memory.
async fn holding(root: &Path, orders: usize, rows: &mut Vec<Row>) -> Res<()> {
    let dir = root.join("holding");
    std::fs::create_dir_all(&dir)?;
    seed(&dir.join("seed.json"), orders, 5, |i| if i < 200 { "bench-1".into() } else { "nobody".into() })?;
    let data = dir.join("server");
    std::fs::create_dir_all(&data)?;
    let import = Command::new(exe("waybill-server")?)
        .arg("--data")
        .arg(&data)
        .args(["import", dir.join("seed.json").to_str().ok_or("path")?])
        .output()?;
    if !import.status.success() {
        return Err(String::from_utf8_lossy(&import.stderr).into_owned().into());
    }
    let server = ServerProc::start(&data)?;
    let mut agent = server.enrol(&dir, "bench-1", "picker", Some("wh-1")).await?;
    agent.sync_once().await?;
    work(&mut agent, 5)?;
    agent.sync_once().await?;
    let mb = server.peak_rss_mb()?;
    rows.push(Row {
        name: format!("server peak RSS holding {orders} orders (a device syncs 200 of them)"),
        measured: format!("{mb:.1} MB"),
        target: "<= 256 MB".into(),
        met: mb <= 256.0,
    });
    Ok(())
}

/// A POST to the office API, plain HTTP/1.1 on loopback.
async fn office_post(addr: std::net::SocketAddr, path: &str, body: &str) -> Res<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await?;
    if !resp.starts_with(b"HTTP/1.1 200") {
        return Err(format!("office API: {}", String::from_utf8_lossy(&resp)).into());
    }
    Ok(())
}

fn tokio_util_stop() -> tokio::sync::broadcast::Sender<()> {
    tokio::sync::broadcast::channel(1).0
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args.windows(2).find(|w| w[0] == "--only").map(|w| w[1].to_lowercase());
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    let base = args
        .windows(2)
        .find(|w| w[0] == "--dir")
        .map(|w| PathBuf::from(&w[1]))
        .unwrap_or(std::env::temp_dir());
    let root = base.join(format!("waybill-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut rows = Vec::new();
    let result = runtime.block_on(async {
        if run("w1") {
            catch_up(&root, 200, &mut rows, "W1", 60.0).await?;
        }
        if run("w2") {
            catch_up(&root, 2000, &mut rows, "W2", 600.0).await?;
        }
        if run("w3") {
            fleet(&root, 50, &mut rows).await?;
            if !quick {
                fleet(&root, 200, &mut rows).await?;
            }
        }
        if run("w5") {
            holding(&root, 100_000, &mut rows).await?;
        }
        if run("w4") {
            push_latency(&root, if quick { 50 } else { 200 }, &mut rows).await?;
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    });
    let _ = std::fs::remove_dir_all(&root);
    result?;
    println!(
        "\ndata on {} (SQLite synchronous=FULL), 127.0.0.1, {} cores",
        base.display(),
        std::thread::available_parallelism()?.get()
    );
    println!("| workload | measured | target | met |\n|---|---|---|---|");
    for r in &rows {
        println!("| {} | {} | {} | {} |", r.name, r.measured, r.target, if r.met { "yes" } else { "no" });
    }
    Ok(())
}
