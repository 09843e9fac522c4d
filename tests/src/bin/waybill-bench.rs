//! `waybill-bench`: the sync benchmark (release build, not a timed test).
//!
//! A real `waybill-server` process on 127.0.0.1 (data directory on the
//! medium given, SQLite `synchronous=FULL`), devices as agent libraries in
//! this process, each with its own SQLite store on the same medium. Order
//! documents have a header of about 8 fields; each event (id, type, GTIN,
//! bin, quantity, time: a short-pick) is its own Automerge change.
//!
//! `cargo run --release -p waybill-tests --bin waybill-bench -- --help`
//!
//! Each figure is printed the moment it is measured, beside its target; a
//! workload that fails is named with its cause and the others still run;
//! the table at the end repeats them all, with the commit, the machine and
//! the storage they were measured on.

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
    database: Option<String>,
    addr: std::net::SocketAddr,
    http: std::net::SocketAddr,
}

/// The office API token the bench's server runs with.
const TOKEN: &str = "bench";

impl ServerProc {
    fn start(data: &Path, database: Option<&str>) -> Res<Self> {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
        let http = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let mut child = server_command(data, database)?
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
        let database = database.map(str::to_owned);
        Ok(Self {
            child,
            data: data.to_path_buf(),
            database,
            addr: format!("127.0.0.1:{port}").parse()?,
            http,
        })
    }

    fn cli(&self, args: &[&str]) -> Res<serde_json::Value> {
        let out = server_command(&self.data, self.database.as_deref())?.arg("--json").args(args).output()?;
        if !out.status.success() {
            return Err(format!("waybill-server {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null))
    }

    /// Peak resident memory so far, MiB.
    fn peak_rss_mb(&self) -> Res<f64> {
        peak_rss_mib(self.child.id())
    }
}

/// `waybill-server --data <data> [--database <database>]`.
fn server_command(data: &Path, database: Option<&str>) -> Res<Command> {
    let mut command = Command::new(exe("waybill-server")?);
    command.arg("--data").arg(data);
    if let Some(db) = database {
        command.args(["--database", db]);
    }
    Ok(command)
}

/// Where the servers keep their data: SQLite in their data directory, or a
/// PostgreSQL database of each workload's own on the server at `postgres`
/// (its maintenance database), shared by `nodes` nodes.
#[derive(Clone, Debug)]
struct Backend {
    postgres: Option<String>,
    nodes: usize,
}

/// The server of one workload: one node, or several on one database.
struct Cluster {
    nodes: Vec<ServerProc>,
    _database: Option<std::sync::Arc<waybill_tests::postgres::Database>>,
}

/// The keys every node of a cluster shares (docs/operations.md).
const KEYS: [&str; 4] = ["ca.der", "ca.key.der", "server.der", "server.key.der"];

impl Cluster {
    fn start(dir: &Path, backend: &Backend) -> Res<Self> {
        let database = backend.postgres.as_deref().map(waybill_tests::postgres::Database::create_on);
        let url = database.as_ref().map(|d| d.url.clone());
        let mut nodes = vec![ServerProc::start(&dir.join("node-0"), url.as_deref())?];
        for i in 1..backend.nodes {
            let data = dir.join(format!("node-{i}"));
            std::fs::create_dir_all(&data)?;
            for key in KEYS {
                std::fs::copy(dir.join("node-0").join(key), data.join(key))?;
            }
            nodes.push(ServerProc::start(&data, url.as_deref())?);
        }
        Ok(Self { nodes, _database: database })
    }

    /// The database's size on disk, MB (an SQLite file with its WAL, or
    /// PostgreSQL's own count).
    fn database_mb(&self) -> Res<f64> {
        let bytes = match &self._database {
            None => std::fs::read_dir(&self.first().data)?
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("waybill.db"))
                .map(|e| e.metadata().map_or(0, |m| m.len()))
                .sum::<u64>() as f64,
            Some(db) => {
                let url = db.url.clone();
                waybill_tests::block_on(async move {
                    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                    tokio::spawn(connection);
                    let row = client.query_one("SELECT pg_database_size(current_database())", &[]).await?;
                    Ok::<_, tokio_postgres::Error>(row.get::<_, i64>(0) as f64)
                })?
            }
        };
        Ok(bytes / 1e6)
    }

    /// The first node, which the office and the command line use.
    fn first(&self) -> &ServerProc {
        &self.nodes[0]
    }

    /// Enrols device number `n` (of its workload) with node `n` modulo the
    /// nodes: devices spread over them.
    async fn enrol(
        &self,
        n: usize,
        dir: &Path,
        device: &str,
        role: &str,
        location: Option<&str>,
    ) -> Res<Agent> {
        let mut args = vec!["enrol", "--device", device, "--role", role];
        if let Some(l) = location {
            args.extend(["--location", l]);
        }
        let v = self.first().cli(&args)?;
        let (code, fp) = (v["code"].as_str().ok_or("no code")?, v["fingerprint"].as_str().ok_or("no fp")?);
        let node = &self.nodes[n % self.nodes.len()];
        Ok(Agent::enrol(&dir.join(format!("{device}.db")), node.addr, code, fp).await?)
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A seed of `orders` orders (one line of `qty` units), order i assigned to
/// picker `device(i)`, at location wh-1 with bin A-01; written as it is
/// made, so a million orders are never held.
fn seed(path: &Path, orders: usize, qty: u32, device: impl Fn(usize) -> String) -> Res<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let location = json!({"id": "wh-1", "name": "W", "bins": [{"id": "A-01", "walk": 1}], "epoch": 0,
                          "opening": [{"bin": "A-01", "gtin": "09506000134352", "quantity": 1000000}]});
    write!(out, "{{\"locations\": [{location}], \"orders\": [")?;
    for i in 0..orders {
        let order = json!({
            "id": format!("SO-{i}"), "customer": format!("C-{}", i % 97),
            "ship_to": {"name": "N", "line1": format!("{i} Main St"), "city": "Town", "postcode": "1000", "country": "GB"},
            "lines": [{"line": 1, "gtin": "09506000134352", "description": "Gear", "quantity": qty}],
            "promised": "2026-12-01", "location": "wh-1", "created_at": "2026-11-23T08:00:00Z",
            "allocations": [{"line": 1, "location": "wh-1", "quantity": qty}],
            "pick_device": device(i),
        });
        write!(out, "{}{order}", if i == 0 { "" } else { ",\n" })?;
    }
    write!(out, "]}}")?;
    out.flush()?;
    Ok(())
}

/// The peak resident memory of a process of ours, MiB, from its VmHWM.
fn peak_rss_mib(pid: u32) -> Res<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .ok_or("no VmHWM")?
        .parse()?;
    Ok(kb / 1024.0)
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

impl Row {
    fn line(&self) -> String {
        let met = if self.met { "yes" } else { "no" };
        format!("| {} | {} | {} | {met} |", self.name, self.measured, self.target)
    }
}

/// The figures so far, each printed as it comes.
#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    failed: Vec<String>,
}

impl Report {
    fn push(&mut self, row: Row) {
        println!("{}", row.line());
        self.rows.push(row);
    }

    /// Notes how a workload ended: a failure is printed and kept, naming it.
    fn ended(&mut self, name: &str, result: Res<()>) {
        if let Err(e) = result {
            let failure = format!("{name} failed: {e}");
            println!("{failure}");
            self.failed.push(failure);
        }
    }
}

/// W1/W2: one device with `orders` orders x 5 offline events catches up.
async fn catch_up(
    root: &Path,
    backend: &Backend,
    orders: usize,
    rows: &mut Report,
    label: &str,
    target_ms: f64,
) -> Res<()> {
    let dir = root.join(format!("catchup-{orders}"));
    std::fs::create_dir_all(&dir)?;
    let cluster = Cluster::start(&dir, backend)?;
    let server = cluster.first();
    seed(&dir.join("seed.json"), orders, 5, |_| "bench-1".into())?;
    server.cli(&["import", dir.join("seed.json").to_str().ok_or("path")?])?;
    let mut agent = cluster.enrol(0, &dir, "bench-1", "picker", Some("wh-1")).await?;
    let t = Instant::now();
    let cold = agent.sync_once().await?;
    let cold_ms = t.elapsed().as_secs_f64() * 1e3;
    let events = work(&mut agent, 5)?;
    let t = Instant::now();
    let report = agent.sync_once().await?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    if report.pending_events != 0 {
        return Err(format!("{} events still pending after the sync", report.pending_events).into());
    }
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
            target: "<= 120 KB".into(),
            met: kb <= 120.0,
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
            name: "database size after W2 (2,000 orders, 10,000 events)".into(),
            measured: format!("{:.1} MB", cluster.database_mb()?),
            target: "-".into(),
            met: true,
        });
        rows.push(Row {
            name: format!("cold start of a device whose scope is {} orders", cold.in_scope - 1),
            measured: format!("{cold_ms:.0} ms"),
            target: "<= 300 ms".into(),
            met: cold_ms <= 300.0,
        });
    }
    Ok(())
}

/// W3: `devices` devices at once, each 20 orders x 10 events.
async fn fleet(root: &Path, backend: &Backend, devices: usize, rows: &mut Report) -> Res<f64> {
    let dir = root.join(format!("fleet-{devices}"));
    std::fs::create_dir_all(&dir)?;
    let cluster = Cluster::start(&dir, backend)?;
    seed(&dir.join("seed.json"), devices * 20, 10, |i| format!("dev-{}", i / 20))?;
    cluster.first().cli(&["import", dir.join("seed.json").to_str().ok_or("path")?])?;
    let mut agents = Vec::new();
    let mut events = 0;
    for d in 0..devices {
        let mut a = cluster.enrol(d, &dir, &format!("dev-{d}"), "picker", Some("wh-1")).await?;
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
        let pending = r??;
        if pending != 0 {
            return Err(format!("a device has {pending} events pending after its sync").into());
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let rate = events as f64 / secs;
    rows.push(Row {
        name: format!("W3 fleet ingest: {devices} devices x 20 orders x 10 events ({events} events)"),
        measured: format!("{rate:.0} events/s ({secs:.2} s)"),
        target: ">= 30000 events/s".into(),
        met: rate >= 30_000.0,
    });
    Ok(rate)
}

/// W4: 20 devices connected holding the same 20 orders; an office change to
/// one order until every device has applied it.
async fn push_latency(root: &Path, backend: &Backend, changes: usize, rows: &mut Report) -> Res<()> {
    let dir = root.join("push");
    std::fs::create_dir_all(&dir)?;
    let cluster = Cluster::start(&dir, backend)?;
    let server = cluster.first();
    seed(&dir.join("seed.json"), 20, 5, |_| "nobody".into())?;
    server.cli(&["import", dir.join("seed.json").to_str().ok_or("path")?])?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let stop = tokio_util_stop();
    let mut watchers = Vec::new();
    for d in 0..20 {
        let mut a = cluster.enrol(d, &dir, &format!("office-{d}"), "office", None).await?;
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
    // Also timed: the API's answer (the change durable) and the first
    // device to apply it, to say where the time goes.
    let (mut lat, mut api, mut first) = (Vec::new(), Vec::new(), Vec::new());
    let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1e3;
    for i in 0..changes {
        let body = format!(r#"{{"reason":"check {i}"}}"#);
        let path = format!("/api/orders/SO-{}/{}", i % 20, if i % 2 == 0 { "hold" } else { "release" });
        let t = Instant::now();
        office_post(server.http, &path, &body).await?;
        api.push(ms(t, Instant::now()));
        let mut last = t;
        for n in 0..20 {
            last = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await?.ok_or("watchers gone")?;
            if n == 0 {
                first.push(ms(t, last));
            }
        }
        lat.push(ms(t, last));
    }
    let _ = stop.send(());
    for w in watchers {
        let _ = w.await;
    }
    let quantile = |v: &mut Vec<f64>, q: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() as f64 - 1.0) * q).round() as usize]
    };
    let p99 = quantile(&mut lat, 0.99);
    rows.push(Row {
        name: format!("W4 push latency, 20 devices, {changes} office changes through the API"),
        measured: format!("p50 {:.2} ms, p99 {p99:.2} ms", quantile(&mut lat, 0.5)),
        target: "p99 <= 3 ms".into(),
        met: p99 <= 3.0,
    });
    rows.push(Row {
        name: "W4 where the time goes: the API's answer (durable), the first device, p50".into(),
        measured: format!("{:.2} ms, {:.2} ms", quantile(&mut api, 0.5), quantile(&mut first, 0.5)),
        target: "-".into(),
        met: true,
    });
    Ok(())
}

/// The office page in headless Chromium over `orders` orders, each step
/// timed in the page from the click to what it draws: signing in to the
/// first page of orders, the next page, a search's matches (after the
/// page's 200 ms pause for typing), and an order's detail.
async fn office_page(root: &Path, backend: &Backend, orders: usize, rows: &mut Report) -> Res<()> {
    let dir = root.join("page");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("seed.json");
    seed(&file, orders, 1, |_| "nobody".into())?;
    let cluster = Cluster::start(&dir, backend)?;
    let server = cluster.first();
    server.cli(&["import", file.to_str().ok_or("path")?])?;
    let out = server_command(&server.data, server.database.as_deref())?
        .args(["user", "add", "bench"])
        .env("WAYBILL_PASSWORD", "bench password")
        .output()?;
    if !out.status.success() {
        return Err(format!("user add: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let url = format!("http://{}/", server.http);
    // The browser drives a runtime of its own: off this one's workers.
    let steps = tokio::task::spawn_blocking(move || page_steps(&url)).await?;
    for (step, ms) in steps {
        rows.push(Row {
            name: format!("P1 office page, {orders} orders in Chromium: {step}"),
            measured: format!("{ms:.0} ms"),
            target: "<= 1000 ms".into(),
            met: ms <= 1000.0,
        });
    }
    Ok(())
}

/// [`office_page`]'s steps in the browser: each step's name and time.
fn page_steps(url: &str) -> Vec<(&'static str, f64)> {
    use waybill_tests::browser::{Browser, wait_for};
    let browser = Browser::start();
    browser.goto(url);
    browser.type_into(&browser.find("#user"), "bench");
    browser.type_into(&browser.find("#password"), "bench password");
    let rows = "document.querySelectorAll('#orders tr.pick')";
    let first = format!("({rows}[0] || {{}}).dataset?.id");
    // The page notes the moment `done` first holds (checked every 4 ms in
    // the page), so the browser's polling adds nothing to the figure.
    let timed = |step: &'static str, action: &str, done: &str| {
        browser.script(&format!(
            "window.benchDone = null; window.benchFirst = {first}; window.benchT0 = performance.now(); \
             const check = () => {{ if ({done}) window.benchDone = performance.now() - window.benchT0; \
             else setTimeout(check, 4); }}; {action}; setTimeout(check, 0); return 0;"
        ));
        let ms = wait_for(step, || browser.script("return window.benchDone;").as_f64());
        (step, ms)
    };
    vec![
        timed(
            "signed in to the first 100 orders drawn",
            "document.querySelector('#signin-form button[type=submit]').click()",
            &format!("{rows}.length === 100"),
        ),
        timed(
            "the next page drawn",
            "document.getElementById('orders-next').click()",
            &format!("{rows}.length === 100 && {first} !== window.benchFirst"),
        ),
        timed(
            "a search's matches drawn (C-42)",
            "const s = document.getElementById('search'); s.value = 'C-42'; s.dispatchEvent(new Event('input'))",
            &format!(
                "{rows}.length > 0 && Array.from({rows}).every((tr) => tr.cells[2].textContent === 'C-42') \
                 && document.getElementById('orders-range').textContent.startsWith('orders 1–')"
            ),
        ),
        timed(
            "an order's detail drawn",
            &format!("{rows}[0].click()"),
            "!document.getElementById('detail').hidden && document.getElementById('detail').textContent.includes(window.benchFirst)",
        ),
    ]
}

/// W5: `orders` orders imported from a seed file (throughput, and the
/// import's peak memory), then a server holding them while a device with
/// 200 of them in its scope syncs its work (the server's peak memory).
async fn holding(root: &Path, backend: &Backend, orders: usize, rows: &mut Report) -> Res<()> {
    let dir = root.join("holding");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("seed.json");
    seed(&file, orders, 5, |i| if i < 200 { "bench-1".into() } else { "nobody".into() })?;
    let cluster = Cluster::start(&dir, backend)?;
    let server = cluster.first();
    let t = Instant::now();
    let mut import = server_command(&server.data, server.database.as_deref())?
        .arg("import")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("import.log"))?)
        .spawn()?;
    // VmHWM only grows: its last reading before the exit is the peak.
    let mut peak = 0.0_f64;
    let status = loop {
        if let Some(status) = import.try_wait()? {
            break status;
        }
        peak = peak.max(peak_rss_mib(import.id()).unwrap_or(peak));
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let secs = t.elapsed().as_secs_f64();
    if !status.success() {
        let err = std::fs::read_to_string(dir.join("import.log"))?;
        return Err(format!("the import failed: {}", err.lines().last().unwrap_or("")).into());
    }
    std::fs::remove_file(&file)?;
    let rate = orders as f64 / secs;
    rows.push(Row {
        name: format!("W5 bulk import of {orders} orders (`waybill-server import`, streamed)"),
        measured: format!("{rate:.0} orders/s ({secs:.1} s), peak {peak:.0} MB"),
        target: ">= 5000 orders/s, <= 256 MB".into(),
        met: rate >= 5000.0 && peak <= 256.0,
    });
    let mut agent = cluster.enrol(0, &dir, "bench-1", "picker", Some("wh-1")).await?;
    agent.sync_once().await?;
    work(&mut agent, 5)?;
    agent.sync_once().await?;
    let mb = server.peak_rss_mb()?;
    rows.push(Row {
        name: format!("W5 server peak RSS holding {orders} orders (a device syncs 200 of them)"),
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

/// Waybill's sync benchmark: a real waybill-server on 127.0.0.1 and
/// devices as agent libraries, each workload on fresh data. Build it with
/// --release.
///
/// Workloads: w1 catch-up of 200 orders x 5 events (and its bytes); w2 the
/// same with 2,000 orders (and the server's peak memory, and a cold start);
/// w3 fleet ingest, 50 devices (and 200 unless --quick); w4 push latency to
/// 20 connected devices; w5 a bulk import of 1,000,000 orders (100,000 with
/// --quick), then a server holding them while a device syncs 200 of them;
/// page the office page in headless Chromium over 100,000 orders (10,000
/// with --quick; needs Debian's chromium and chromium-driver).
#[derive(clap::Parser)]
#[command(name = "waybill-bench")]
struct Args {
    /// Where the server's and devices' data go: tmpfs (/dev/shm) or a disk.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Smaller runs: w3 without 200 devices, w4 with 50 changes, w5 with
    /// 100,000 orders.
    #[arg(long)]
    quick: bool,
    /// Only these workloads (w1,w2,w3,w4,w5,page).
    #[arg(long, value_delimiter = ',', value_parser = ["w1", "w2", "w3", "w4", "w5", "page"])]
    only: Vec<String>,
    /// Run the servers on PostgreSQL: the address of a maintenance database
    /// (e.g. postgres://postgres@127.0.0.1/postgres); each workload makes a
    /// database of its own there and drops it after.
    #[arg(long)]
    postgres: Option<String>,
    /// Server nodes per workload, sharing the database (needs --postgres);
    /// devices are spread over them.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
}

/// What the figures were measured on.
fn setting(dir: &Path, backend: &Backend) -> String {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(|| "unknown".into(), |o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let dirty = Command::new("git")
        .args(["status", "--porcelain", "--untracked-files=no"])
        .output()
        .is_ok_and(|o| !o.stdout.is_empty());
    let commit = if dirty { format!("{commit} with changes") } else { commit };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown cpu", |l| l.trim_start_matches([' ', '\t', ':']));
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    // The file system holding `dir`: the longest mount point above it.
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let storage = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && dir.starts_with(f[1])).then(|| (f[1].len(), format!("{} ({})", f[1], f[2])))
        })
        .max()
        .map_or_else(|| "unknown".into(), |(_, m)| m);
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let database = match &backend.postgres {
        None => "SQLite synchronous=FULL".to_owned(),
        Some(url) => {
            let version = waybill_tests::block_on({
                let url = url.clone();
                async move {
                    let (client, connection) =
                        tokio_postgres::connect(&url, tokio_postgres::NoTls).await.ok()?;
                    tokio::spawn(connection);
                    let row = client.query_one("SELECT current_setting('server_version')", &[]).await.ok()?;
                    Some(row.get::<_, String>(0))
                }
            });
            let nodes =
                if backend.nodes == 1 { "1 node".to_owned() } else { format!("{} nodes", backend.nodes) };
            format!("PostgreSQL {} (its own data directory), {nodes}", version.as_deref().unwrap_or("?"))
        }
    };
    // What the server's UDP socket may get (docs/operations.md): W3 halves
    // with the common 208 KiB.
    let rmem_max = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or_else(|| "unknown".into(), |b| format!("{} KiB", b / 1024));
    format!(
        "commit {commit}; {cores} cores, {cpu}, {mem_gib:.0} GiB; data in {} on {storage}, {database}; \
         127.0.0.1, net.core.rmem_max {rmem_max}",
        dir.display()
    )
}

fn main() -> std::process::ExitCode {
    let args: Args = clap::Parser::parse();
    let run = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let quick = args.quick;
    if args.nodes == 0 || (args.nodes > 1 && args.postgres.is_none()) {
        eprintln!("--nodes must be 1, or more with --postgres: nodes share one PostgreSQL database");
        return std::process::ExitCode::FAILURE;
    }
    let backend = Backend { postgres: args.postgres.clone(), nodes: args.nodes };
    let setting = setting(&args.dir, &backend);
    println!("{setting}\n| workload | measured | target | met |\n|---|---|---|---|");
    let root = args.dir.join(format!("waybill-bench-{}", std::process::id()));
    let runtime = match std::fs::create_dir_all(&root)
        .and_then(|()| tokio::runtime::Builder::new_multi_thread().enable_all().build())
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut report = Report::default();
    runtime.block_on(async {
        let report = &mut report;
        if run("w1") {
            let r = catch_up(&root, &backend, 200, report, "W1", 50.0).await;
            report.ended("W1", r);
        }
        if run("w2") {
            let r = catch_up(&root, &backend, 2000, report, "W2", 500.0).await;
            report.ended("W2", r);
        }
        if run("w3") {
            let fifty = fleet(&root, &backend, 50, report).await;
            if !quick {
                let two_hundred = fleet(&root, &backend, 200, report).await;
                if let (Ok(fifty), Ok(two_hundred)) = (&fifty, &two_hundred) {
                    let ratio = two_hundred / fifty;
                    report.push(Row {
                        name: "W3 fleet ingest, 200 devices against 50".into(),
                        measured: format!("{:.0}% of the 50-device rate", ratio * 100.0),
                        target: ">= 90%".into(),
                        met: ratio >= 0.9,
                    });
                }
                report.ended("W3 (200 devices)", two_hundred.map(drop));
            }
            report.ended("W3 (50 devices)", fifty.map(drop));
        }
        if run("w5") {
            let r = holding(&root, &backend, if quick { 100_000 } else { 1_000_000 }, report).await;
            report.ended("W5", r);
        }
        if run("page") {
            let r = office_page(&root, &backend, if quick { 10_000 } else { 100_000 }, report).await;
            report.ended("page", r);
        }
        if run("w4") {
            let r = push_latency(&root, &backend, if quick { 50 } else { 200 }, report).await;
            report.ended("W4", r);
        }
    });
    let _ = std::fs::remove_dir_all(&root);
    println!("\n{setting}\n| workload | measured | target | met |\n|---|---|---|---|");
    for r in &report.rows {
        println!("{}", r.line());
    }
    for f in &report.failed {
        println!("{f}");
    }
    if report.failed.is_empty() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}
