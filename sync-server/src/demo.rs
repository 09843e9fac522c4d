//! `waybill-server demo`: the whole system on the embedded default (SQLite
//! in a local folder), with a simulated fleet and a live dashboard.
//!
//! It starts the sync server and the office page, signs up an office user,
//! loads two warehouses with stock and a few hundred orders, and has the
//! office allocate them and hand out pick lists. Then real agents (pickers,
//! packers, drivers, each with its own store) go offline, work, come back
//! and merge over QUIC, while the office routes packed orders, takes in new
//! ones, and (to show what offline work does) cancels an order and amends
//! an address while a driver is out of reach. Collisions show up as
//! exceptions on the page.
//!
//! The customer's side runs too: orders carry the customer's email and
//! their payment terms. Prepaid orders are held until the office records
//! their payment a little later; drivers take cash or card at the door for
//! orders paid on delivery, and the office counts the cash each driver
//! brings back (once short), so the reconciliation shows a difference.
//! Customers' emails go to a small SMTP sink the demo starts, which keeps
//! them as files in `<data>/mail` (or to the server given with `--smtp`);
//! their links open each order's tracking page on the dashboard.

mod depot;
mod fleet;
mod smtp_sink;
mod world;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::Utc;
use waybill_shared::doc::DocId;
use waybill_shared::doc::payment::{Currency, PaymentTerms};
use waybill_shared::event::Payload;
use waybill_shared::event::office::{AddressAmended, Cancelled};
use waybill_shared::id::{DeviceId, LocationId, OrderId, RouteId, VanId};
use waybill_shared::plan::day::{Load, Van, Window};
use waybill_shared::role::Role;
use waybill_sync_server::payment::{self, PaymentReport, Step};
use waybill_sync_server::server::Shared;
use waybill_sync_server::{
    Config, Limits, Server, devices, http, mail, office, planning, storage, tracking, users,
};

use self::depot::Depot;
use self::fleet::Sim;
use self::smtp_sink::Sink;
use self::world::Rng;

/// The office user the demo signs up.
pub const USER: &str = "office";
/// Their password.
pub const PASSWORD: &str = "waybill-demo";
/// The demo's read-only office user (role viewer).
pub const VIEWER: &str = "viewer";
/// Their password.
pub const VIEWER_PASSWORD: &str = "waybill-viewer";
/// Marks a data directory as the demo's own, so it may be wiped.
const MARKER: &str = ".waybill-demo";
/// Locked by a running demo for as long as it runs.
const LOCK: &str = ".waybill-demo.lock";

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct Options {
    /// Data directory (an earlier demo's world in it is replaced; any other
    /// data is refused).
    pub data: PathBuf,
    /// QUIC address.
    pub listen: SocketAddr,
    /// Dashboard address.
    pub http: SocketAddr,
    /// Orders to start with.
    pub orders: usize,
    /// Seed of the made-up world and fleet.
    pub seed: u64,
    /// Stop once the fleet has settled (or after `minutes`), and print a
    /// summary; otherwise run until Ctrl-C.
    pub once: bool,
    /// Longest run with `once`.
    pub minutes: u64,
    /// Pauses are multiplied by this (smaller is faster).
    pub pace: f64,
    /// The SMTP server for customers' emails; `None`: the demo's own sink.
    pub smtp: Option<String>,
}

/// Who the demo's emails come from.
const MAIL_FROM: &str = "Waybill demo <orders@example.com>";

/// Devices: id, role, location, van.
const FLEET: &[(&str, Role, Option<&str>, Option<&str>)] = &[
    ("hh-s1", Role::Picker, Some("wh-south"), None),
    ("hh-s2", Role::Picker, Some("wh-south"), None),
    ("pk-s1", Role::Packer, Some("wh-south"), None),
    ("hh-n1", Role::Picker, Some("wh-north"), None),
    ("hh-n2", Role::Picker, Some("wh-north"), None),
    ("pk-n1", Role::Packer, Some("wh-north"), None),
    ("drv-1", Role::Driver, Some("wh-south"), Some("VAN-11")),
    ("drv-2", Role::Driver, Some("wh-south"), Some("VAN-12")),
    ("drv-3", Role::Driver, Some("wh-north"), Some("VAN-21")),
];

/// The demo's hold on its data directory for the whole run: a second demo on
/// the same directory is refused before it touches anything.
struct Claim {
    /// Held locked until the demo ends (the OS lets go if the process dies).
    _lock: std::fs::File,
    /// The dashboard's port, bound before anything is written.
    http: std::net::TcpListener,
}

/// Checks both ports and takes the directory, then clears an earlier demo's
/// world. Nothing is deleted unless the directory is an earlier demo's and no
/// demo runs in it: the ports are checked first, then the lock is taken,
/// and only then is anything removed.
fn prepare(o: &Options) -> anyhow::Result<Claim> {
    let dir = o.data.as_path();
    // The ports first: a demo (or server) already running on them is the
    // usual reason, and then nothing here needs to be touched.
    std::net::UdpSocket::bind(o.listen).map_err(|e| {
        anyhow::anyhow!(
            "cannot use the sync address {} (UDP): {e}. Is a demo or server already running? \
             Stop it, or pass --listen 127.0.0.1:<port>",
            o.listen
        )
    })?;
    let http = std::net::TcpListener::bind(o.http).map_err(|e| {
        anyhow::anyhow!(
            "cannot use the dashboard's address {}: {e}. Is a demo or server already running? \
             Stop it, or pass --http 127.0.0.1:<port>",
            o.http
        )
    })?;
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() && !is_demos(dir) {
        bail!("{} holds data that is not an earlier demo's: give another --data directory", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK))
        .with_context(|| format!("cannot open the demo's lock file in {}", dir.display()))?;
    if !try_lock(&lock).with_context(|| format!("cannot lock {}", dir.display()))? {
        bail!(
            "a demo is already running in {}: stop it first (Ctrl-C), or give this one another \
             --data directory",
            dir.display()
        );
    }
    std::fs::write(dir.join(MARKER), "made by waybill-server demo; deleted by the next demo run\n")?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n == LOCK || n == MARKER) {
            continue;
        }
        let gone = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
        gone.with_context(|| format!("cannot clear {}", path.display()))?;
    }
    std::fs::create_dir_all(dir.join("devices"))?;
    http.set_nonblocking(true)?;
    Ok(Claim { _lock: lock, http })
}

/// Takes an exclusive advisory lock on `file` (`flock`), held until the file
/// is closed or the process ends; false if another process holds it.
#[cfg(unix)]
fn try_lock(file: &std::fs::File) -> std::io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Elsewhere there is no lock (std's `File::try_lock` needs Rust 1.89): the
/// check of both ports still stops a second demo on the same ports.
#[cfg(not(unix))]
fn try_lock(_: &std::fs::File) -> std::io::Result<bool> {
    Ok(true)
}

/// Whether a directory is an earlier demo's (or one whose start was cut
/// short after it took the lock).
fn is_demos(dir: &std::path::Path) -> bool {
    dir.join(MARKER).exists() || dir.join(LOCK).exists()
}

/// Runs the demo.
pub fn run(o: Options) -> anyhow::Result<()> {
    let claim = prepare(&o)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(demo(o, claim))
}

async fn demo(o: Options, claim: Claim) -> anyhow::Result<()> {
    let started = Instant::now();
    let database = storage::Database::Sqlite(waybill_sync_server::server::db_path(&o.data));
    let server = Server::start(Config {
        data_dir: o.data.clone(),
        database,
        listen: o.listen,
        limits: Limits::default(),
    })
    .await?;
    let addr = server.local_addr()?;
    let fingerprint = server.ca_fingerprint();
    let shared = server.shared();
    tokio::spawn(server.run());
    let db = shared.storage.clone();
    users::add(&db, USER, PASSWORD, Utc::now()).await?;
    users::add_as(&db, VIEWER, VIEWER_PASSWORD, users::UserRole::Viewer, &[], Utc::now()).await?;
    let Claim { _lock, http } = claim;
    let listener = tokio::net::TcpListener::from_std(http)?;
    let dashboard = format!("http://{}", listener.local_addr()?);
    let router = http::router(shared.clone(), String::new());
    tokio::spawn(async move { http::serve(listener, router).await });
    // Mail before the orders, so their confirmations go out at once.
    let (sink, smtp) = match &o.smtp {
        Some(url) => (None, url.clone()),
        None => {
            let sink =
                Sink::start(&o.data.join("mail")).await.context("cannot start the demo's SMTP sink")?;
            let url = sink.url();
            (Some(sink), url)
        }
    };
    let mailer = mail::Mailer::new(&smtp, MAIL_FROM, &dashboard, &o.data.join("templates"))?;
    tokio::spawn(mail::run(shared.clone(), mailer));

    let mut rng = Rng::new(o.seed);
    let seed = world::seed(&mut rng, o.orders, Utc::now());
    let made = office::import(&shared, &seed).await?;
    println!("loaded {} documents: 2 warehouses with stock, {} orders", made.len(), o.orders);
    let terms = |name: &'static str| seed.orders.iter().filter(move |s| s.header.payment.name() == name);
    println!(
        "orders are paid: {} on account, {} prepaid (held until the payment is authorised), {} cash or card on delivery",
        terms("on_account").count(),
        terms("prepaid").count(),
        terms("on_delivery").count()
    );
    let mut sims = Vec::new();
    let cash_taken = Arc::new(AtomicUsize::new(0));
    let (back, depot_door) = tokio::sync::mpsc::unbounded_channel();
    for (n, (id, role, location, _)) in FLEET.iter().enumerate() {
        let device = DeviceId::new(*id)?;
        let location = location.map(LocationId::new).transpose()?.filter(|_| *role != Role::Driver);
        let code = devices::issue_code(&db, &device, *role, location.as_ref(), Utc::now()).await?;
        let path = o.data.join("devices").join(format!("{id}.db"));
        let mut sim = Sim::enrol(&path, addr, &code, &fingerprint, n, o.seed).await?;
        sim.counts_scarce = *id == "hh-n1";
        sim.cash_taken = cash_taken.clone();
        sim.depot = (*role == Role::Driver).then(|| back.clone());
        sims.push(sim);
    }
    println!("enrolled {} devices over QUIC: pickers, packers and drivers at two warehouses", sims.len());
    plan_work(&shared).await?;

    println!();
    println!("  dashboard: {dashboard}");
    println!("  sign in:   user {USER:?}, password {PASSWORD:?} (admin)");
    println!("         or: user {VIEWER:?}, password {VIEWER_PASSWORD:?} (viewer: reads only)");
    println!("  (ready {:.1} s after start; data in {})", started.elapsed().as_secs_f64(), o.data.display());
    match &sink {
        Some(sink) => println!(
            "  emails to customers: caught in {} (SMTP sink on {})",
            sink.dir().display(),
            sink.addr()
        ),
        None => println!("  emails to customers: sent through {smtp}"),
    }
    // What a customer gets in their emails: the tracking page, no sign-in;
    // an order of each kind of payment.
    for name in ["on_account", "prepaid", "on_delivery"] {
        let Some(order) = terms(name).next().map(|s| &s.header.id) else { continue };
        if let Some(link) = tracking::link(&shared, order).await? {
            println!("  customer tracking for {order}: {dashboard}{link}");
        }
    }
    println!();
    for sim in sims {
        tokio::spawn(sim.run(o.pace));
    }
    let depot = Arc::new(Depot::new(shared.clone()));
    let office = tokio::spawn(run_office(
        shared.clone(),
        rng,
        (!o.once).then_some(o.orders),
        o.pace,
        (depot.clone(), depot_door),
    ));
    if o.once {
        let quiet = Duration::from_secs_f64((20.0 * o.pace).max(6.0));
        settle(&shared, quiet, Duration::from_secs(o.minutes * 60)).await?;
        office.abort();
        // The end of the day: every driver back, their cash counted.
        depot.close_day().await?;
        if let Some(sink) = &sink {
            drain(sink).await;
        }
        summary(&shared, &depot).await?;
        match &sink {
            Some(sink) => {
                println!("emails sent to customers: {} (in {})", sink.received(), sink.dir().display())
            }
            None => println!("emails to customers went through {smtp}"),
        }
        println!("dashboard was at {dashboard}");
        return Ok(());
    }
    tokio::select! {
        r = office => r??,
        _ = tokio::signal::ctrl_c() => println!("stopping"),
    }
    Ok(())
}

/// The office's morning: allocate everything, and pick lists per location.
async fn plan_work(shared: &Arc<Shared>) -> anyhow::Result<()> {
    let by = Some(USER.to_owned());
    let report = planning::allocate(shared, None, by.clone()).await?;
    println!(
        "office allocated {} orders ({} with backorders)",
        report.allocated.len(),
        report.backordered.len()
    );
    for (location, pickers) in pickers() {
        let batches = planning::pick_lists(shared, &location, &pickers, 8.try_into()?, by.clone()).await?;
        if !batches.is_empty() {
            println!("office sent {} pick list(s) at {location}", batches.len());
        }
    }
    Ok(())
}

fn pickers() -> BTreeMap<LocationId, Vec<DeviceId>> {
    let mut out: BTreeMap<LocationId, Vec<DeviceId>> = BTreeMap::new();
    for (id, role, location, _) in FLEET {
        if let (Role::Picker, Some(l)) = (role, location) {
            if let (Ok(l), Ok(d)) = (LocationId::new(*l), DeviceId::new(*id)) {
                out.entry(l).or_default().push(d);
            }
        }
    }
    out
}

fn drivers() -> BTreeMap<LocationId, Vec<planning::Crew>> {
    // A small van, a shift from 08:00 to 18:00, 8 stops at most: so a van
    // takes more than one parcel and a busy depot's orders wait for the
    // next round.
    let limits = Van {
        capacity: Load { weight_g: 800_000, volume_cm3: 6_000_000, packages: 12 },
        shift: Window { from_s: 8 * 3_600, to_s: 18 * 3_600 },
        max_stops: 8,
    };
    let mut out: BTreeMap<LocationId, Vec<planning::Crew>> = BTreeMap::new();
    for (id, _, location, van) in FLEET {
        if let (Some(l), Some(v)) = (location, van) {
            if let (Ok(l), Ok(device), Ok(van)) = (LocationId::new(*l), DeviceId::new(*id), VanId::new(*v)) {
                out.entry(l).or_default().push(planning::Crew { device, van, limits });
            }
        }
    }
    out
}

/// The office through the day: routes for what is packed, new orders
/// coming in (numbered from `intake`, if given), and now and then a change
/// of mind while a driver is out.
async fn run_office(
    shared: Arc<Shared>,
    mut rng: Rng,
    mut intake: Option<usize>,
    pace: f64,
    (depot, mut door): (Arc<Depot>, tokio::sync::mpsc::UnboundedReceiver<RouteId>),
) -> anyhow::Result<()> {
    let (mut cancelled, mut amended) = (0, 0);
    let mut tick = 0u64;
    loop {
        tokio::time::sleep(Duration::from_secs_f64(3.0 * pace)).await;
        tick += 1;
        // Drivers back at the depot hand in their cash.
        while let Ok(route) = door.try_recv() {
            depot.hand_in(&route).await?;
        }
        // The payment provider's authorisations arrive a little after the
        // orders, a few at a time: the holds lift and allocation takes them.
        if tick >= 2 && authorise_payments(&shared, 4).await? > 0 {
            plan_work(&shared).await?;
        }
        // Routes every third round, so a van takes more than one parcel.
        for (location, drivers) in drivers().into_iter().filter(|_| tick % 3 == 1) {
            let plan = planning::routes(&shared, &location, &drivers, Utc::now().date_naive(), 180).await?;
            for r in plan.routes {
                println!(
                    "office planned {} for {}: {} stops, {:.1} km, back at {}",
                    r.header.id,
                    r.header.driver,
                    r.header.stops.len(),
                    r.distance_m / 1000.0,
                    r.back.format("%H:%M")
                );
            }
        }
        let out: Vec<String> = shared.storage.orders_in("out_for_delivery").await?;
        if !out.is_empty() && cancelled < 2 && rng.chance(0.3) {
            let id = rng.pick(&out).parse::<OrderId>()?;
            let payload = Payload::Cancelled(Cancelled { reason: "customer called to cancel".into() });
            office::office_event(&shared, &DocId::Order(id.clone()), payload, Some(USER.into())).await?;
            cancelled += 1;
            println!("office cancelled {id} while its driver is on the road");
        } else if !out.is_empty() && amended < 2 && rng.chance(0.3) {
            let id = rng.pick(&out).parse::<OrderId>()?;
            let mut ship_to = world::order(&mut rng, 0, Utc::now())["ship_to"].clone();
            ship_to["name"] = "Reception, please".into();
            let payload = Payload::AddressAmended(AddressAmended {
                ship_to: serde_json::from_value(ship_to)?,
                replaces: None,
            });
            office::office_event(&shared, &DocId::Order(id.clone()), payload, Some(USER.into())).await?;
            amended += 1;
            println!("office amended the address of {id} after dispatch");
        }
        if let Some(next) = intake.as_mut().filter(|_| tick % 4 == 0) {
            let order = world::order(&mut rng, *next, Utc::now());
            let contact = office::Contact {
                email: order["email"].as_str().map(str::to_owned),
                tracking_photo: order["tracking_photo"] == true,
            };
            let header = serde_json::from_value(order)?;
            let key = format!("demo-{next}");
            let (view, _) = office::create_order(&shared, header, &contact, &key, Some(USER.into())).await?;
            *next += 1;
            println!("office took in {}", view.header.id);
            plan_work(&shared).await?;
        }
    }
}

/// Records the payment provider's authorisation for up to `most` prepaid
/// orders awaiting payment, as the office does from the provider's
/// webhook; returns how many.
async fn authorise_payments(shared: &Arc<Shared>, most: usize) -> anyhow::Result<usize> {
    let mut done = 0;
    for id in shared.storage.orders_in("held").await? {
        if done >= most {
            break;
        }
        let Some(view) = shared.storage.order_view(&id).await? else { continue };
        let view: serde_json::Value = serde_json::from_str(&view)?;
        if view["payment"]["state"] != "awaiting_payment" {
            continue;
        }
        let lines = view["header"]["lines"].as_array().into_iter().flatten();
        let amount = world::total(
            lines.map(|l| (l["gtin"].as_str().unwrap_or_default(), l["quantity"].as_u64().unwrap_or(0))),
        );
        let currency = Currency::new(world::CURRENCY)?;
        let order: OrderId = id.parse()?;
        let report = PaymentReport {
            step: Step::Authorised,
            reference: format!("pay-demo-{id}"),
            amount_minor: amount,
            currency: currency.clone(),
        };
        if payment::record(shared, &order, report, Some(USER.into())).await? {
            println!(
                "office recorded the payment authorised for {order} ({}): its hold is lifted",
                currency.format(amount)
            );
            done += 1;
        }
    }
    Ok(done)
}

/// Waits (at most 10 s) until the sink has taken no email for a second:
/// the outbox has sent what the day queued.
async fn drain(sink: &Sink) {
    let start = Instant::now();
    let mut last = sink.received();
    while start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = sink.received();
        if now == last {
            return;
        }
        last = now;
    }
}

/// Waits until order statuses stop moving for `quiet` (with deliveries
/// made), or `limit`.
async fn settle(shared: &Shared, quiet: Duration, limit: Duration) -> anyhow::Result<()> {
    let start = Instant::now();
    let (mut last, mut since) = (BTreeMap::new(), Instant::now());
    while start.elapsed() < limit {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = shared.storage.orders_by_status().await?;
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() > quiet && last.contains_key("completed") {
            return Ok(());
        }
    }
    Ok(())
}

async fn summary(shared: &Shared, depot: &Depot) -> anyhow::Result<()> {
    let line =
        |m: BTreeMap<String, i64>| m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ");
    let statuses = shared.storage.orders_by_status().await?;
    println!("orders by status: {}", line(statuses.clone()));
    println!("open exceptions: {}", line(shared.storage.open_exceptions_by_kind().await?));
    println!("proof images received: {}", shared.storage.blobs_received().await?);
    let (mut on_delivery, mut cash, mut card, mut short) = (0, 0, 0, 0);
    for status in statuses.keys() {
        for id in shared.storage.orders_in(status).await? {
            let Some(view) = shared.storage.order_view(&id).await? else { continue };
            let view: serde_json::Value = serde_json::from_str(&view)?;
            let terms: PaymentTerms = serde_json::from_value(view["payment"]["terms"].clone())?;
            if terms.due_on_delivery().is_none() {
                continue;
            }
            on_delivery += 1;
            for c in view["payment"]["collections"].as_array().into_iter().flatten() {
                match c["method"].as_str() {
                    Some("cash") => cash += 1,
                    Some("card") => card += 1,
                    _ => {}
                }
            }
            short += usize::from(view["payment"]["state"] == "short");
        }
    }
    println!(
        "paid on delivery: {on_delivery} orders; collected {cash} in cash and {card} by card, {short} short"
    );
    println!("cash reconciliation at the depot (per route: collected, handed in, difference):");
    let lines = depot.reconciliation().await?;
    if lines.is_empty() {
        println!("  no cash was collected");
    }
    for l in lines {
        println!("  {l}");
    }
    Ok(())
}
