//! The harness for the end-to-end tests: a real `waybill-server` process on
//! a free port of 127.0.0.1 with its own data directory, and real
//! `waybill-agent` processes with their own stores, driven through their
//! command lines (`--json`).
#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // a test harness: failing loudly is its job

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Once};

use serde_json::Value;

pub mod browser;
pub mod mail;
pub mod postgres;

/// The demo seed: two orders, a location with stock, a route.
pub const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../agent/demo/seed.json");

/// Where the [`SEED`]'s two addresses are: 12 St James's Square (SO-1001,
/// R-7 stop 1) and 1 Dorset Street (SO-1002, stop 2), London.
pub const SEED_GEO: [(f64, f64); 2] = [(51.5074, -0.1347), (51.5203, -0.1566)];

/// The [`SEED`] with its orders' and route stops' addresses geocoded
/// ([`SEED_GEO`]), written in `dir`: its path, for `import`.
pub fn geocoded_seed(dir: &Path) -> PathBuf {
    let mut seed: Value = serde_json::from_str(&std::fs::read_to_string(SEED).unwrap()).unwrap();
    for (i, (lat, lon)) in SEED_GEO.iter().enumerate() {
        let geo = serde_json::json!({ "lat": lat, "lon": lon });
        seed["orders"][i]["ship_to"]["geo"] = geo.clone();
        seed["routes"][0]["stops"][i]["address"]["geo"] = geo;
    }
    let path = dir.join("seed-geo.json");
    std::fs::write(&path, seed.to_string()).unwrap();
    path
}

/// A workspace binary. `cargo test --workspace` builds them; run alone,
/// the tests build them once (with the workspace's features, so nothing is
/// rebuilt back and forth).
pub fn bin(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    let path = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join(name);
    if !path.exists() {
        BUILD.call_once(|| {
            let status =
                Command::new(env!("CARGO")).args(["build", "-q", "--workspace", "--bins"]).status().unwrap();
            assert!(status.success(), "building the binaries failed");
        });
    }
    path
}

/// A small xorshift generator: random but repeatable choices (sync
/// orders, kill delays) from a fixed seed.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number.
    #[allow(clippy::should_implement_trait)] // not an iterator: it never ends
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = usize::try_from(self.next() % (i as u64 + 1)).unwrap();
            items.swap(i, j);
        }
    }
}

/// A free UDP port on 127.0.0.1.
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The office API's service token in servers started with an HTTP port.
pub const OFFICE_TOKEN: &str = "test-office-token";

/// A free TCP port on 127.0.0.1.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Calls the office API on `127.0.0.1:<http>` with the service token:
/// status and JSON body (Null if none).
pub fn api(http: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client.request(method, format!("http://127.0.0.1:{http}{path}")).bearer_auth(OFFICE_TOKEN);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().unwrap();
    let status = res.status().as_u16();
    let text = res.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A running `waybill-server`.
pub struct Server {
    child: Option<Child>,
    /// Its data directory.
    pub data: PathBuf,
    /// Its UDP port.
    pub port: u16,
    /// Its office API's TCP port, if it serves one.
    pub http: Option<u16>,
    /// Its PostgreSQL database, if it runs on one.
    pub database: Option<Arc<postgres::Database>>,
}

impl Server {
    /// Starts a server on a free port.
    pub fn start(data: &Path) -> Self {
        Self::start_on(data, free_port())
    }

    /// Starts a server on `port`, waiting until it listens.
    pub fn start_on(data: &Path, port: u16) -> Self {
        Self::start_with(data, port, None)
    }

    /// Starts a server on `port` with the office API on `http` (service
    /// token [`OFFICE_TOKEN`]), waiting until it listens.
    pub fn start_with(data: &Path, port: u16, http: Option<u16>) -> Self {
        Self::start_serving(data, port, http, &[])
    }

    /// As [`Server::start_with`], with more arguments to `serve`.
    pub fn start_serving(data: &Path, port: u16, http: Option<u16>, serve: &[&str]) -> Self {
        let database = postgres::everywhere().then(|| postgres::Database::of(data));
        Self::node_with(data, port, http, database, serve)
    }

    /// Starts a server on `port` (and `http`) with its data in `data` and
    /// its database in `database` (SQLite in `data` if `None`): one node of
    /// several when they share a database.
    pub fn node(
        data: &Path,
        port: u16,
        http: Option<u16>,
        database: Option<Arc<postgres::Database>>,
    ) -> Self {
        Self::node_with(data, port, http, database, &[])
    }

    fn node_with(
        data: &Path,
        port: u16,
        http: Option<u16>,
        database: Option<Arc<postgres::Database>>,
        serve: &[&str],
    ) -> Self {
        let mut command = Command::new(bin("waybill-server"));
        command.arg("--data").arg(data);
        if let Some(db) = &database {
            command.args(["--database", &db.url]);
        }
        command.args(["serve", "--listen", &format!("127.0.0.1:{port}")]).args(serve);
        if let Some(http) = http {
            command.args(["--http", &format!("127.0.0.1:{http}")]).env("WAYBILL_OFFICE_TOKEN", OFFICE_TOKEN);
        }
        // Its log goes in its data folder, and a failing test prints its end.
        std::fs::create_dir_all(data).unwrap();
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log_of(data)).unwrap();
        let mut child = command.env("RUST_LOG", "info").stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(line.starts_with("listening on"), "server did not start: {line:?}");
        if http.is_some() {
            while !line.starts_with("office API on") {
                line.clear();
                assert!(out.read_line(&mut line).unwrap() > 0, "the office API did not start");
            }
        }
        // Keep reading, so the server never writes to a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
        Self { child: Some(child), data: data.to_path_buf(), port, http, database }
    }

    /// Its address.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// Runs `waybill-server --data <dir> --json <args>`.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command().arg("--json").args(args).output().unwrap()
    }

    /// `waybill-server --data <dir>`, and `--database` if it runs on
    /// PostgreSQL: a command on this server's data.
    pub fn command(&self) -> Command {
        let mut command = Command::new(bin("waybill-server"));
        command.arg("--data").arg(&self.data);
        if let Some(db) = &self.database {
            command.args(["--database", &db.url]);
        }
        command
    }

    /// Adds an office user with `role` (an admin when `None`) through the
    /// server's command line.
    pub fn add_user(&self, name: &str, role: Option<&str>, password: &str) {
        let mut command = self.command();
        command.args(["user", "add", name]).env("WAYBILL_PASSWORD", password);
        if let Some(role) = role {
            command.args(["--role", role]);
        }
        let out = command.output().unwrap();
        assert!(out.status.success(), "user add {name}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A blob's bytes as the server stores them, if it does.
    pub fn blob(&self, hash: &waybill_shared::blob::BlobHash) -> Option<Vec<u8>> {
        let (database, dir, hash) = (self.storage(), self.data.join("blobs"), *hash);
        block_on(async move { blob_store(database, dir).await.read(&hash, 0, usize::MAX).await.unwrap() })
    }

    /// How many bytes of an upload of a blob cut short the server holds
    /// (`None`: none).
    pub fn blob_partial(&self, hash: &waybill_shared::blob::BlobHash) -> Option<u64> {
        let (database, dir, hash) = (self.storage(), self.data.join("blobs"), *hash);
        let held = block_on(async move { blob_store(database, dir).await.partial_len(&hash).await.unwrap() });
        Some(held).filter(|n| *n > 0)
    }

    /// Where its database is, for reading it in a test.
    pub fn storage(&self) -> waybill_sync_server::storage::Database {
        match &self.database {
            Some(db) => waybill_sync_server::storage::Database::Postgres(db.url.clone()),
            None => waybill_sync_server::storage::Database::Sqlite(waybill_sync_server::server::db_path(
                &self.data,
            )),
        }
    }

    /// Runs a server command that must succeed; its JSON output (or Null).
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        assert!(out.status.success(), "server {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// Issues an enrolment code: (code, fingerprint).
    pub fn enrol(&self, device: &str, role: &str, location: Option<&str>) -> (String, String) {
        let mut args = vec!["enrol", "--device", device, "--role", role];
        if let Some(l) = location {
            args.extend(["--location", l]);
        }
        let v = self.ok(&args);
        (v["code"].as_str().unwrap().to_owned(), v["fingerprint"].as_str().unwrap().to_owned())
    }

    /// An order's merged view, from the projections.
    pub fn order(&self, id: &str) -> Value {
        self.ok(&["order", id])
    }

    /// The open exceptions, (document, exception id) → the events named.
    pub fn open_exceptions(&self) -> BTreeMap<(String, String), BTreeSet<String>> {
        let rows = self.ok(&["exceptions"]);
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let events: Vec<String> = serde_json::from_str(r["events"].as_str().unwrap()).unwrap();
                let key = (r["doc"].as_str().unwrap().to_owned(), r["id"].as_str().unwrap().to_owned());
                (key, events.into_iter().collect())
            })
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(log_of(&self.data)).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!("the end of the server's log ({}):", log_of(&self.data).display());
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("  {line}");
            }
        }
    }
}

/// Where the server with its data in `data` logs: in it.
fn log_of(data: &Path) -> PathBuf {
    data.join("server.log")
}

/// Runs `f` to its end on a runtime of its own, on a thread of its own (so
/// it works from sync tests and async ones alike).
pub fn block_on<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    })
    .join()
    .unwrap()
}

/// The keys every node of one server shares: the device CA (which signs
/// enrolled devices' certificates) and the server certificate devices pin.
pub const KEYS: [&str; 4] = ["ca.der", "ca.key.der", "server.der", "server.key.der"];

/// `n` server nodes on one new PostgreSQL database, each with the office
/// API if `http`; the first makes the keys and the others are given copies
/// (docs/operations.md).
pub fn nodes(dir: &Path, n: usize, http: bool) -> (Arc<postgres::Database>, Vec<Server>) {
    let db = postgres::Database::create();
    let http = || http.then(free_tcp_port);
    let mut all = vec![Server::node(&dir.join("node-0"), free_port(), http(), Some(db.clone()))];
    for i in 1..n {
        let data = dir.join(format!("node-{i}"));
        std::fs::create_dir_all(&data).unwrap();
        for key in KEYS {
            std::fs::copy(all[0].data.join(key), data.join(key)).unwrap();
        }
        all.push(Server::node(&data, free_port(), http(), Some(db.clone())));
    }
    (db, all)
}

/// A document as the server stores it, read from `database` (`None` if it
/// is not stored).
pub fn stored(database: &waybill_sync_server::storage::Database, id: &str) -> Option<automerge::AutoCommit> {
    let id: waybill_shared::doc::DocId = id.parse().unwrap();
    let database = database.clone();
    let stored = block_on(async move {
        let (storage, _writer) = waybill_sync_server::storage::open(&database).await.unwrap();
        storage.load_doc(&id).await.unwrap()
    })?;
    let mut d = automerge::AutoCommit::load(&stored.snapshot).unwrap();
    for c in &stored.changes {
        d.load_incremental(c).unwrap();
    }
    Some(d)
}

/// A server's blob store, as the server opens it.
async fn blob_store(
    database: waybill_sync_server::storage::Database,
    dir: PathBuf,
) -> waybill_sync_server::blob_store::BlobStore {
    use waybill_sync_server::blob_store::BlobStore;
    match &database {
        waybill_sync_server::storage::Database::Sqlite(_) => BlobStore::files(dir).unwrap(),
        postgres => BlobStore::Database(waybill_sync_server::storage::open(postgres).await.unwrap().0),
    }
}

/// A device: a `waybill-agent` store.
pub struct Device {
    /// Its store.
    pub store: PathBuf,
}

impl Device {
    /// Enrols a device with `server` (the code issued here), in `dir`.
    pub fn enrol(dir: &Path, server: &Server, id: &str, role: &str, location: Option<&str>) -> Self {
        let (code, fingerprint) = server.enrol(id, role, location);
        let d = Self { store: dir.join(format!("{id}.db")) };
        d.ok(&["enrol", "--server", &server.addr(), "--code", &code, "--fingerprint", &fingerprint]);
        d
    }

    /// Runs `waybill-agent --store <store> --json <args>`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("waybill-agent"))
            .arg("--store")
            .arg(&self.store)
            .arg("--json")
            .args(args)
            .output()
            .unwrap()
    }

    /// A command that must succeed; its JSON output.
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(out.status.success(), "agent {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// A command that must fail; its stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "agent {args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Syncs once; the report.
    pub fn sync(&self) -> Value {
        self.ok(&["sync"])
    }

    /// The quota of item `gtin` this device still holds, as its store says.
    pub fn quota(&self, gtin: &str) -> i64 {
        let q = self.ok(&["quota"]);
        q["quotas"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["gtin"] == gtin)
            .map_or(0, |q| q["remaining"].as_i64().unwrap())
    }
}

/// The arguments of a `pick` command.
pub fn pick<'a>(order: &'a str, line: &'a str, bin: &'a str, item: &'a str, qty: &'a str) -> [&'a str; 11] {
    ["pick", "--order", order, "--line", line, "--bin", bin, "--item", item, "--qty", qty]
}

/// The seed's SO-1001 taken through the warehouse on `server` (which holds
/// the [`SEED`]): a picker (`hh-1`) picks it whole and a packer (`pk-1`)
/// packs and closes package `106141411234567897`, each enrolled in `dir`,
/// syncing before and after.
pub fn picked_and_packed(dir: &Path, server: &Server) {
    let picker = Device::enrol(dir, server, "hh-1", "picker", Some("wh-1"));
    let report = picker.sync();
    assert_eq!(report["new_documents"], 3, "{report}");
    picker.ok(&pick("SO-1001", "1", "A-01", "09506000134352", "2"));
    picker.ok(&pick("SO-1001", "2", "B-01", "09506000134369", "1"));
    assert_eq!(picker.ok(&["status"])["pending_events"], 2);
    assert_eq!(picker.sync()["pending_events"], 0);
    assert_eq!(server.order("SO-1001")["status"], "picked");

    let packer = Device::enrol(dir, server, "pk-1", "packer", Some("wh-1"));
    packer.sync();
    pack_and_close(&packer);
    packer.sync();
}

/// The seed's SO-1001, picked whole, packed by `packer` into package
/// `106141411234567897` and closed.
pub fn pack_and_close(packer: &Device) {
    packer.ok(&[
        "pack",
        "--order",
        "SO-1001",
        "--package",
        "106141411234567897",
        "--line",
        "1:2",
        "--line",
        "2:1",
    ]);
    packer.ok(&["close", "--order", "SO-1001", "--package", "106141411234567897"]);
}

/// [`picked_and_packed`], then a driver (`drv-1`) enrols, loads the package
/// and goes out on route R-7: SO-1001 is out for delivery (stop 1) on the
/// driver's device. The driver.
pub fn out_for_delivery(dir: &Path, server: &Server) -> Device {
    picked_and_packed(dir, server);
    let driver = Device::enrol(dir, server, "drv-1", "driver", None);
    driver.sync();
    driver.ok(&["load", "--route", "R-7", "--package", "106141411234567897"]);
    driver.ok(&["out", "--route", "R-7"]);
    driver
}

/// Raw clients of the wire protocol, for tests that must say what an honest
/// agent never would: QUIC and TLS set up by hand, frames written and read
/// one at a time.
pub mod raw {
    use std::net::SocketAddr;
    use std::time::Duration;

    use automerge::AutoCommit;
    use automerge::sync::State;
    use quinn::{Connection, ConnectionError, Endpoint, RecvStream, SendStream};
    use waybill_shared::doc::DocId;
    use waybill_shared::sync::handshake::ClientHandshake;
    use waybill_shared::sync::session::ClientSession;
    use waybill_shared::sync::{
        FrameDecoder, FrameError, ManifestEntry, Message, PROTOCOL_VERSION, SERVER_NAME, encode,
    };

    use super::{Device, Server};

    /// How long a read waits before the test calls it a hang.
    pub const WAIT: Duration = Duration::from_secs(5);

    /// A device's credentials, as enrolment stored them in its store.
    #[derive(Debug, Clone)]
    pub struct Credentials {
        /// Its certificate, DER.
        pub certificate: Vec<u8>,
        /// Its private key, PKCS#8 DER.
        pub key: Vec<u8>,
        /// The CA it pins, DER.
        pub ca: Vec<u8>,
    }

    impl Credentials {
        /// Reads `device`'s credentials out of its store (`meta`, key `credentials`).
        pub fn of(device: &Device) -> Self {
            let c = rusqlite::Connection::open(&device.store).unwrap();
            let text: String =
                c.query_row("SELECT value FROM meta WHERE key = 'credentials'", [], |r| r.get(0)).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let bytes = |k: &str| -> Vec<u8> {
                v[k].as_array()
                    .unwrap_or_else(|| panic!("credentials without {k}"))
                    .iter()
                    .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
                    .collect()
            };
            Self { certificate: bytes("certificate"), key: bytes("key"), ca: bytes("ca") }
        }
    }

    /// The fingerprint devices pin (`waybill-server fingerprint`).
    pub fn fingerprint(server: &Server) -> String {
        let out = server.cli(&["fingerprint"]);
        assert!(out.status.success(), "fingerprint: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// How reading a stream ended.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum End {
        /// The peer finished the stream cleanly, between frames.
        Finished,
        /// The stream or the connection went: reset, stopped or closed.
        Lost(String),
        /// The peer's bytes are not frames.
        Bad(FrameError),
        /// Nothing came for [`WAIT`].
        Timeout,
    }

    /// One bidirectional stream.
    pub struct Stream {
        /// The sending half.
        pub send: SendStream,
        recv: RecvStream,
        decoder: FrameDecoder,
    }

    impl Stream {
        /// Sends one message as a frame; panics if it cannot be written.
        pub async fn send(&mut self, msg: &Message) {
            self.send.write_all(&encode(msg).unwrap()).await.unwrap();
        }

        /// Writes raw bytes.
        pub async fn write(&mut self, bytes: &[u8]) -> Result<(), quinn::WriteError> {
            self.send.write_all(bytes).await
        }

        /// Ends the sending half.
        pub fn finish(&mut self) {
            let _ = self.send.finish();
        }

        /// The next message, or how the stream ended.
        pub async fn next(&mut self) -> Result<Message, End> {
            loop {
                match self.decoder.next_frame() {
                    Ok(Some(msg)) => return Ok(msg),
                    Ok(None) => {}
                    Err(e) => return Err(End::Bad(e)),
                }
                let chunk = tokio::time::timeout(WAIT, self.recv.read_chunk(64 * 1024, true))
                    .await
                    .map_err(|_| End::Timeout)?
                    .map_err(|e| End::Lost(e.to_string()))?;
                match chunk {
                    Some(chunk) => self.decoder.push(&chunk.bytes),
                    None => {
                        return Err(match self.decoder.finish() {
                            Ok(()) => End::Finished,
                            Err(e) => End::Bad(e),
                        });
                    }
                }
            }
        }

        /// Every message up to the end of the stream, and how it ended.
        pub async fn rest(&mut self) -> (Vec<Message>, End) {
            let mut out = Vec::new();
            loop {
                match self.next().await {
                    Ok(msg) => out.push(msg),
                    Err(end) => return (out, end),
                }
            }
        }
    }

    /// One QUIC connection to the server.
    pub struct Client {
        /// The local endpoint (kept alive with the connection).
        pub endpoint: Endpoint,
        /// The connection.
        pub conn: Connection,
    }

    impl Client {
        async fn connect(server: &Server, config: quinn::ClientConfig) -> Self {
            let endpoint = Endpoint::client(SocketAddr::from(([127, 0, 0, 1], 0))).unwrap();
            let addr: SocketAddr = server.addr().parse().unwrap();
            let conn = tokio::time::timeout(WAIT, endpoint.connect_with(config, addr, SERVER_NAME).unwrap())
                .await
                .expect("QUIC handshake timed out")
                .unwrap();
            Self { endpoint, conn }
        }

        /// Connects without a client certificate, pinning the server by its
        /// fingerprint, as a device about to enrol does.
        pub async fn unenrolled(server: &Server) -> Self {
            let config = waybill_agent::sync::tls::enrolment(&fingerprint(server)).unwrap();
            Self::connect(server, config).await
        }

        /// Connects with `device`'s certificate.
        pub async fn device(server: &Server, device: &Device) -> Self {
            let c = Credentials::of(device);
            let config = waybill_agent::sync::tls::device(&c.ca, &c.certificate, &c.key).unwrap();
            Self::connect(server, config).await
        }

        /// Opens a bidirectional stream.
        pub async fn open(&self) -> Stream {
            let (send, recv) = self.conn.open_bi().await.unwrap();
            Stream { send, recv, decoder: FrameDecoder::new() }
        }

        /// Opens the control stream and says `Hello` with `protocol`.
        pub async fn hello(&self, protocol: u16) -> Stream {
            let mut control = self.open().await;
            control.send(&Message::Hello { protocol, agent: "waybill-tests".into() }).await;
            control
        }

        /// Says `Hello`, expects `Welcome` then `Manifest`: the control
        /// stream and the manifest.
        pub async fn session(&self) -> (Stream, Vec<ManifestEntry>) {
            let (control, docs, _) = self.session_in(PROTOCOL_VERSION).await;
            (control, docs)
        }

        /// [`session`](Self::session) speaking `protocol`; also the version
        /// the server's `Welcome` said the connection speaks.
        pub async fn session_in(&self, protocol: u16) -> (Stream, Vec<ManifestEntry>, u16) {
            let mut control = self.hello(protocol).await;
            let mut handshake = ClientHandshake::default();
            loop {
                match handshake.handle(control.next().await.ok()) {
                    Ok(Some(docs)) => return (control, docs, handshake.protocol()),
                    Ok(None) => {}
                    Err(e) => panic!("the handshake failed: {e}"),
                }
            }
        }

        /// Fetches `doc` whole on a new stream, as a new device speaking
        /// `protocol` would, the manifest having listed it at `listed`: the
        /// document, and every message the server sent on the stream.
        pub async fn fetch(
            &self,
            doc: &DocId,
            protocol: u16,
            listed: &[automerge::ChangeHash],
        ) -> (AutoCommit, Vec<Message>) {
            let mut session =
                ClientSession::new(doc.clone(), AutoCommit::new(), State::new(), listed).speaking(protocol);
            let mut stream = self.open().await;
            let mut out = session.start().unwrap();
            let mut heard = Vec::new();
            while !session.is_done() {
                for msg in &out {
                    stream.send(msg).await;
                }
                let msg = stream.next().await.unwrap();
                heard.push(msg.clone());
                out = session.handle(msg).unwrap();
            }
            for msg in &out {
                stream.send(msg).await;
            }
            stream.finish();
            let _ = stream.rest().await;
            (session.finish().doc, heard)
        }

        /// How the connection ended, if it ends within `within`.
        pub async fn closed_within(&self, within: Duration) -> Option<ConnectionError> {
            tokio::time::timeout(within, self.conn.closed()).await.ok()
        }
    }
}

impl Server {
    /// A figure of the server process's `/proc/<pid>/status` (`VmRSS`,
    /// `VmHWM`, ...), in MiB.
    pub fn memory_mib(&self, field: &str) -> f64 {
        let pid = self.child.as_ref().expect("the server is not running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
            .parse()
            .unwrap();
        kib / 1024.0
    }

    /// Whether the server process is still running (it has not crashed or
    /// exited).
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())
    }
}

/// The driver delivers stop 1 of R-7 (SO-1001) to Ada, offline, with the
/// photo and signature in these files.
pub fn deliver(driver: &Device, photo: &Path, signature: &Path) {
    deliver_at(driver, photo, signature, None);
}

/// [`deliver`], with the device's position (`lat,lon`) if given.
pub fn deliver_at(driver: &Device, photo: &Path, signature: &Path, gps: Option<&str>) {
    let mut args = vec![
        "deliver",
        "--route",
        "R-7",
        "--stop",
        "1",
        "--recipient",
        "Ada",
        "--photo",
        photo.to_str().unwrap(),
        "--signature",
        signature.to_str().unwrap(),
    ];
    args.extend(gps.iter().flat_map(|g| ["--gps", g]));
    driver.ok(&args);
}

/// The driver delivers stop 1 of R-7 (SO-1001) with a photo and a signature
/// made in `dir`, and syncs: the sync report.
pub fn deliver_with_proof(dir: &Path, driver: &Device) -> Value {
    let photo = dir.join("door.jpg");
    let signature = dir.join("sig.png");
    std::fs::write(&photo, b"jpeg bytes").unwrap();
    std::fs::write(&signature, b"png bytes").unwrap();
    deliver(driver, &photo, &signature);
    driver.sync()
}
