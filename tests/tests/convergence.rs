#![allow(clippy::unwrap_used)]
//! Convergence over real QUIC: two pickers, a packer and two drivers work
//! offline, with conflicting work (two pickers over-pick the same line, two
//! pickers take a bin below zero, a packer counts a bin while it is picked
//! from, two drivers load and deliver the same package), then sync in a
//! seeded random order, twice. Afterwards:
//!
//! - every document a device holds in its scope folds on the device to the
//!   same view as on the server (orders: the server's projection; stock and
//!   routes: the fold of the server's stored document);
//! - every conflict is an open exception on the server, naming the events
//!   that collided;
//! - no event is lost or invented: the events each device acknowledged are
//!   exactly the devices' events in the server's documents, and the stock
//!   figures are what those events add up to.
//!
//! The office assigns one order to two pickers, which the seed format cannot
//! say (one `pick_device` per order), so this test writes the office's
//! documents into the server's data directory itself, with the library the
//! server's own `import` uses, before the server starts.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use automerge::AutoCommit;
use serde_json::{Value, json};
use waybill_shared::doc::{self, DocId};
use waybill_shared::event::Payload;
use waybill_shared::event::office::PickAssigned;
use waybill_shared::fold;
use waybill_shared::id::DeviceId;
use waybill_shared::recorder::Recorder;
use waybill_shared::seed::{self, Seed};
use waybill_sync_server::blob_store::BlobStore;
use waybill_sync_server::ingest;
use waybill_sync_server::server::db_path;
use waybill_sync_server::storage::{self, WriteOp};
use waybill_tests::{Device, Server, XorShift};

const X: &str = "09506000134352";
const Y: &str = "09506000134369"; // B-01
const Z: &str = "09506000134376";
const PACKAGE: &str = "106141411234567897";
const LOCATION: &str = "location/wh-1/0";
const ORDERS: [&str; 4] = ["SO-2001", "SO-2002", "SO-2003", "SO-2004"];

fn address(name: &str) -> Value {
    json!({ "name": name, "line1": "1 High Street", "city": "London", "postcode": "N1 1AA", "country": "GB" })
}

fn order(id: &str, lines: &[(u32, &str, u32)], picker: &str) -> Value {
    json!({
        "id": id,
        "customer": format!("Customer of {id}"),
        "ship_to": address(id),
        "lines": lines.iter().map(|(l, g, q)| json!({ "line": l, "gtin": g, "description": "item", "quantity": q })).collect::<Vec<_>>(),
        "location": "wh-1",
        "created_at": "2026-11-23T08:00:00Z",
        "allocations": lines.iter().map(|(l, _, q)| json!({ "line": l, "location": "wh-1", "quantity": q })).collect::<Vec<_>>(),
        "pick_device": picker,
    })
}

fn seed() -> Seed {
    serde_json::from_value(json!({
        "locations": [{
            "id": "wh-1", "name": "Main warehouse", "epoch": 0,
            "bins": [{ "id": "A-01", "walk": 1 }, { "id": "A-02", "walk": 2 }, { "id": "B-01", "walk": 3 }],
            "opening": [
                { "bin": "A-01", "gtin": X, "quantity": 12 },
                { "bin": "B-01", "gtin": Y, "quantity": 5 },
                { "bin": "A-02", "gtin": Z, "quantity": 30 }
            ]
        }],
        "orders": [
            // Also assigned to hh-2 below: both pick line 1 in full.
            order("SO-2001", &[(1, X, 4), (2, Z, 2)], "hh-1"),
            // SO-2002 and SO-2003 take 4 + 4 of the 5 units in B-01.
            order("SO-2002", &[(1, Y, 4)], "hh-2"),
            order("SO-2003", &[(1, Y, 4)], "hh-1"),
            // Packed into PACKAGE; on two drivers' routes.
            order("SO-2004", &[(1, Z, 1)], "hh-1"),
        ],
        "routes": [
            { "id": "R-7", "driver": "drv-1", "van": "van-3", "date": "2026-11-24", "stops": [
                { "seq": 1, "orders": ["SO-2004"], "address": address("SO-2004") },
                { "seq": 2, "orders": ["SO-2003"], "address": address("SO-2003") }
            ] },
            { "id": "R-8", "driver": "drv-2", "van": "van-4", "date": "2026-11-24", "stops": [
                { "seq": 1, "orders": ["SO-2004"], "address": address("SO-2004") }
            ] }
        ]
    }))
    .unwrap()
}

/// What `waybill-server import` does, plus a second `pick_assigned` for
/// each of `extra` (order, device): the office's documents, stored with
/// their projections, before the server runs.
fn import(data: &Path, seed: &Seed, extra: &[(&str, &str)]) {
    std::fs::create_dir_all(data).unwrap();
    let mut office = Recorder::new(DeviceId::new("office").unwrap());
    let now = serde_json::from_value(json!("2026-11-23T08:00:00Z")).unwrap();
    let mut docs = seed::build(seed, &mut office, now, |_| false).unwrap();
    for (order, device) in extra {
        let id: DocId = format!("order/{order}").parse().unwrap();
        let (_, d) = docs.iter_mut().find(|(i, _)| *i == id).unwrap();
        let assigned =
            PickAssigned { device: DeviceId::new(*device).unwrap(), location: "wh-1".parse().unwrap() };
        doc::append(d, &office.record(now, None, Payload::PickAssigned(assigned))).unwrap();
    }
    let blobs = BlobStore::files(data.join("blobs")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut ops = Vec::new();
    for (id, mut d) in docs {
        ops.push(WriteOp::PutDoc { id: id.clone(), snapshot: d.save(), heads: d.get_heads(), stored: None });
        ops.extend(runtime.block_on(ingest::project(&blobs, &id, &mut d)).unwrap());
    }
    ops.push(waybill_sync_server::office::OfficeRecorder::new(office).write().unwrap());
    runtime
        .block_on(async {
            let (_, writer) = storage::open(&storage::Database::Sqlite(db_path(data))).await.unwrap();
            writer.write(ops).await
        })
        .unwrap();
}

/// A document as the server stores it (read from its data directory).
fn stored(data: &Path, id: &str) -> AutoCommit {
    let database = storage::Database::Sqlite(db_path(data));
    waybill_tests::stored(&database, id).unwrap_or_else(|| panic!("server lacks {id}"))
}

/// The ids of the events in a stored document, with how often each occurs.
fn stored_event_ids(data: &Path, id: &str) -> Vec<String> {
    let mut d = stored(data, id);
    let events = if id.starts_with("location/") {
        doc::location::read(d.document()).unwrap().events
    } else if id.starts_with("route/") {
        doc::route::read(d.document()).unwrap().events
    } else {
        doc::order::read(d.document()).unwrap().events
    };
    events.iter().map(|e| e.id.to_string()).collect()
}

/// The server's stock view of wh-1: the fold of its stored document.
fn server_stock(data: &Path) -> Value {
    let mut d = stored(data, LOCATION);
    serde_json::to_value(fold::stock::fold(&doc::location::read(d.document()).unwrap())).unwrap()
}

/// The server's view of a route: the fold of its stored document.
fn server_route(data: &Path, id: &str) -> Value {
    let mut d = stored(data, &format!("route/{id}"));
    serde_json::to_value(fold::route::fold(&doc::route::read(d.document()).unwrap())).unwrap()
}

/// The devices, and the ids of the events each one acknowledged, per document.
struct Fleet {
    devices: Vec<(&'static str, Device)>,
    acked: BTreeMap<String, BTreeSet<String>>,
    by_device: BTreeMap<&'static str, usize>,
}

impl Fleet {
    fn device(&self, name: &str) -> &Device {
        &self.devices.iter().find(|(n, _)| *n == name).unwrap().1
    }

    /// Runs a recording command on `name`; the events it acknowledged are
    /// expected in each of `docs`. Returns the (first) event.
    fn record(&mut self, name: &'static str, args: &[&str], docs: &[&str]) -> Value {
        let out = self.device(name).ok(args);
        // One event, or `{ "events": [...] }` for a command that records one
        // per order (out, fail).
        let events = match out.get("events") {
            Some(Value::Array(list)) => list.clone(),
            _ => vec![out.clone()],
        };
        assert!(!events.is_empty(), "{name} {args:?} recorded nothing: {out}");
        for e in &events {
            let id = e["id"].as_str().unwrap_or_else(|| panic!("{name} {args:?}: no event id in {out}"));
            assert!(id.starts_with(&format!("{name}:")), "{name} recorded {id}");
            for d in docs {
                assert!(self.acked.entry((*d).to_owned()).or_default().insert(id.to_owned()), "{id} twice");
            }
            *self.by_device.entry(name).or_default() += 1;
        }
        events[0].clone()
    }

    /// `name` syncs; nothing it sends may be refused.
    fn sync(&self, name: &str) -> Value {
        let report = self.device(name).sync();
        eprintln!("sync {name}: {report}");
        assert!(report["refused"].as_array().unwrap().is_empty(), "{name}: {report}");
        report
    }

    /// Every device syncs once, in an order drawn from `rng`.
    fn sync_all(&self, rng: &mut XorShift) -> BTreeMap<&'static str, Value> {
        let mut order: Vec<&'static str> = self.devices.iter().map(|(n, _)| *n).collect();
        rng.shuffle(&mut order);
        order.into_iter().map(|name| (name, self.sync(name))).collect()
    }
}

fn order_doc(id: &str) -> String {
    format!("order/{id}")
}

/// The server's open exceptions: id → the events named.
fn open_exceptions(server: &Server) -> BTreeMap<String, BTreeSet<String>> {
    server.open_exceptions().into_iter().map(|((_, id), events)| (id, events)).collect()
}

fn set(ids: &[&Value]) -> BTreeSet<String> {
    ids.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect()
}

/// The orders in a device's scope, by the server's rules, from the
/// server's views.
fn scope_of(server: &Server, name: &str, role: &str) -> BTreeSet<String> {
    ORDERS
        .iter()
        .filter(|id| {
            let v = server.order(id);
            let status = v["status"].as_str().unwrap();
            let open = !matches!(status, "completed" | "cancelled");
            match role {
                "picker" => open && v["pickers"].as_array().unwrap().iter().any(|p| p["device"] == name),
                "packer" => matches!(status, "picking" | "picked" | "packed"),
                _ => {
                    let on_route = match name {
                        "drv-1" => ["SO-2004", "SO-2003"].contains(id),
                        _ => **id == "SO-2004",
                    };
                    open && on_route
                }
            }
        })
        .map(|id| (*id).to_owned())
        .collect()
}

/// Warehouse conflicts, then both drivers load the same package; with
/// `deliver`, both also deliver it.
fn scenario(deliver: bool) {
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    import(&data, &seed(), &[("SO-2001", "hh-2")]);
    let server = Server::start(&data);
    let roles = [
        ("hh-1", "picker", Some("wh-1")),
        ("hh-2", "picker", Some("wh-1")),
        ("pk-1", "packer", Some("wh-1")),
        ("drv-1", "driver", None),
        ("drv-2", "driver", None),
    ];
    let mut fleet = Fleet {
        devices: roles.iter().map(|(n, r, l)| (*n, Device::enrol(dir.path(), &server, n, r, *l))).collect(),
        acked: BTreeMap::new(),
        by_device: BTreeMap::new(),
    };
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let first = fleet.sync_all(&mut rng);
    // Scope as the server decides it: a picker its orders and its stock, the
    // packer every order being picked at wh-1 and the stock, a driver its
    // routes and their orders.
    assert_eq!(first["hh-1"]["new_documents"], 4, "{}", first["hh-1"]); // SO-2001, -2003, -2004, stock
    assert_eq!(first["hh-2"]["new_documents"], 3, "{}", first["hh-2"]); // SO-2001, -2002, stock
    assert_eq!(first["pk-1"]["new_documents"], 5, "{}", first["pk-1"]);
    assert_eq!(first["drv-1"]["new_documents"], 3, "{}", first["drv-1"]); // R-7, SO-2004, SO-2003
    assert_eq!(first["drv-2"]["new_documents"], 2, "{}", first["drv-2"]); // R-8, SO-2004

    // Offline, in the warehouse. Both pickers pick line 1 of SO-2001 in
    // full; each sees 4 left, so neither needs an override.
    let pick = |o: &'static str, l: &'static str, bin: &'static str, item: &'static str, q: &'static str| {
        ["pick", "--order", o, "--line", l, "--bin", bin, "--item", item, "--qty", q]
    };
    let so1 = order_doc("SO-2001");
    let over_1 = fleet.record("hh-1", &pick("SO-2001", "1", "A-01", X, "4"), &[LOCATION, &so1]);
    let over_2 = fleet.record("hh-2", &pick("SO-2001", "1", "A-01", X, "4"), &[LOCATION, &so1]);
    fleet.record("hh-1", &pick("SO-2001", "2", "A-02", Z, "2"), &[LOCATION, &so1]);
    // hh-2 does not see hh-1's pick of line 2: it reports one unit short.
    let short = fleet.record(
        "hh-2",
        &[
            "short-pick",
            "--order",
            "SO-2001",
            "--line",
            "2",
            "--bin",
            "A-02",
            "--qty",
            "1",
            "--reason",
            "damaged",
        ],
        &[&so1],
    );
    // 4 + 4 units out of a bin of 5.
    let below_1 =
        fleet.record("hh-1", &pick("SO-2003", "1", "B-01", Y, "4"), &[LOCATION, &order_doc("SO-2003")]);
    let below_2 =
        fleet.record("hh-2", &pick("SO-2002", "1", "B-01", Y, "4"), &[LOCATION, &order_doc("SO-2002")]);
    fleet.record("hh-1", &pick("SO-2004", "1", "A-02", Z, "1"), &[LOCATION, &order_doc("SO-2004")]);
    // Meanwhile the packer receives goods and counts A-02, which the
    // pickers are picking from: its count is against the 30 it shows.
    fleet.record("pk-1", &["receive", "--bin", "A-01", "--item", X, "--qty", "6"], &[LOCATION]);
    let count =
        fleet.record("pk-1", &["count", "--bin", "A-02", "--item", Z, "--counted", "29"], &[LOCATION]);
    assert_eq!(count["payload"]["expected"], 30, "{count}");

    fleet.sync_all(&mut rng);
    fleet.sync_all(&mut rng);
    let open = open_exceptions(&server);
    // The two picks of line 1 collide, and the exception names both.
    let over = open.get("over_pick:1").unwrap_or_else(|| panic!("no over-pick: {open:?}"));
    assert!(over.is_superset(&set(&[&over_1, &over_2])), "{over:?}");
    assert!(open.get("short_pick:2").is_some_and(|e| e.contains(short["id"].as_str().unwrap())), "{open:?}");
    let below = open.get(&format!("stock_below_zero:B-01:{Y}")).unwrap_or_else(|| panic!("{open:?}"));
    // It names the move(s) that took the bin below zero: one of the two.
    assert!(!below.is_empty() && below.is_subset(&set(&[&below_1, &below_2])), "{below:?}");
    let view = server.order("SO-2001");
    assert_eq!(view["lines"][0]["picked"], 8, "{view}");
    assert_eq!(view["lines"][1]["picked"], 2, "{view}");
    assert_eq!(view["lines"][1]["short"], 1, "{view}");

    // The packer, now seeing SO-2004 picked, packs it and closes it; the
    // drivers sync to see the package.
    fleet.record(
        "pk-1",
        &["pack", "--order", "SO-2004", "--package", PACKAGE, "--line", "1:1"],
        &[&order_doc("SO-2004")],
    );
    fleet.record("pk-1", &["close", "--order", "SO-2004", "--package", PACKAGE], &[&order_doc("SO-2004")]);
    fleet.sync("pk-1");
    fleet.sync("drv-1");
    fleet.sync("drv-2");

    // Offline again: both drivers load the same package on their vans, set
    // out (and deliver it). A picker puts units back and the packer books a
    // damaged unit meanwhile.
    let so4 = order_doc("SO-2004");
    let load_1 = fleet.record("drv-1", &["load", "--route", "R-7", "--package", PACKAGE], &[&so4]);
    let load_2 = fleet.record("drv-2", &["load", "--route", "R-8", "--package", PACKAGE], &[&so4]);
    fleet.record("drv-1", &["out", "--route", "R-7"], &[&so4]);
    fleet.record("drv-2", &["out", "--route", "R-8"], &[&so4]);
    fleet.record("drv-1", &["arrive", "--route", "R-7", "--stop", "1"], &["route/R-7"]);
    let delivery = |route: &'static str| ["deliver", "--route", route, "--stop", "1", "--recipient", "Ada"];
    let delivered = deliver.then(|| {
        let one = fleet.record("drv-1", &delivery("R-7"), &[&so4, "route/R-7"]);
        let two = fleet.record("drv-2", &delivery("R-8"), &[&so4, "route/R-8"]);
        (one, two)
    });
    fleet.record(
        "hh-1",
        &["put-back", "--order", "SO-2001", "--line", "1", "--bin", "A-01", "--item", X, "--qty", "2"],
        &[LOCATION, &so1],
    );
    fleet.record(
        "pk-1",
        &["adjust", "--bin", "A-02", "--item", Z, "--delta", "-1", "--reason", "damaged"],
        &[LOCATION],
    );

    fleet.sync_all(&mut rng);
    let last = fleet.sync_all(&mut rng);

    // Every conflict is an open exception on the server, naming its events.
    let open = open_exceptions(&server);
    let so4_view = server.order("SO-2004");
    if let Some((one, two)) = &delivered {
        // Both deliveries, whichever driver synced first.
        let twice = open.get(&format!("delivered_twice:{PACKAGE}"));
        let twice = twice.unwrap_or_else(|| panic!("no double delivery: {open:?}\n{so4_view}"));
        assert_eq!(twice, &set(&[one, two]));
        assert_eq!(so4_view["status"], "delivered", "{so4_view}"); // delivered, with something open
    } else {
        assert_eq!(so4_view["status"], "out_for_delivery", "{so4_view}");
    }
    let two_vans = open.get(&format!("loaded_on_two_vans:{PACKAGE}")).unwrap_or_else(|| panic!("{open:?}"));
    assert!(two_vans.is_superset(&set(&[&load_1, &load_2])), "{two_vans:?}");
    assert!(open.get("over_pick:1").is_some_and(|e| e.is_superset(&set(&[&over_1, &over_2]))), "{open:?}");
    assert!(open.contains_key("short_pick:2"), "{open:?}");
    assert!(open.contains_key(&format!("stock_below_zero:B-01:{Y}")), "{open:?}");

    // The stock is what the acknowledged events add up to: A-01 12 - 4 - 4
    // + 6 received + 2 put back; B-01 5 - 4 - 4; A-02 30 - 2 - 1, the count
    // (29 counted against 30 shown) -1, the damaged unit -1.
    let stock: BTreeMap<(String, String), i64> = server
        .ok(&["stock"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = (r["bin"].as_str().unwrap().to_owned(), r["gtin"].as_str().unwrap().to_owned());
            (key, r["on_hand"].as_i64().unwrap())
        })
        .collect();
    let expected: BTreeMap<(String, String), i64> = [("A-01", X, 12), ("A-02", Z, 25), ("B-01", Y, -3)]
        .iter()
        .map(|(b, g, q)| (((*b).to_owned(), (*g).to_owned()), *q))
        .collect();
    assert_eq!(stock, expected);

    // No event lost, none invented, none twice: the devices' events in each
    // of the server's documents are exactly those the devices acknowledged.
    let mut all_docs: Vec<String> = ORDERS.iter().map(|o| order_doc(o)).collect();
    all_docs.extend([LOCATION.to_owned(), "route/R-7".to_owned(), "route/R-8".to_owned()]);
    for d in &all_docs {
        let ids = stored_event_ids(&data, d);
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), ids.len(), "{d}: an event twice: {ids:?}");
        let from_devices: BTreeSet<String> =
            unique.into_iter().filter(|i| !i.starts_with("office:")).collect();
        let acked = fleet.acked.get(d).cloned().unwrap_or_default();
        assert_eq!(from_devices, acked, "{d}: the server's events differ from those acknowledged");
        if let Some(order) = d.strip_prefix("order/") {
            // The projection the office reads shows the same timeline.
            let view = server.order(order);
            let timeline: BTreeSet<String> = view["timeline"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned())
                .filter(|i| !i.starts_with("office:"))
                .collect();
            assert_eq!(timeline, acked, "{order}: the projected timeline differs");
            // And it is the fold of what the server stores.
            let mut stored_doc = stored(&data, d);
            let folded = fold::order::fold(&doc::order::read(stored_doc.document()).unwrap(), &|_| true);
            assert_eq!(serde_json::to_value(folded).unwrap(), view, "{order}: projection is stale");
        }
    }

    // Every device, after a second sync, sees what the server sees for
    // each document in its scope; nothing of its own is left pending.
    let server_stock_view = server_stock(&data);
    for (name, role, _) in roles {
        let device = fleet.device(name);
        let report = &last[name];
        assert_eq!(report["pending_events"], 0, "{name}: {report}");
        let status = device.ok(&["status"]);
        assert_eq!(status["pending_events"], 0, "{name}: {status}");
        assert_eq!(status["quarantined"], 0, "{name}: {status}");
        let scope = scope_of(&server, name, role);
        // Plus its route (a driver) or its location's stock (warehouse).
        assert_eq!(report["in_scope"], scope.len() + 1, "{name} in scope {scope:?}: {report}");
        for order in &scope {
            let mine = device.ok(&["order", order]);
            assert_eq!(mine, server.order(order), "{name} sees {order} otherwise than the server");
        }
        match role {
            "driver" => {
                let route = if name == "drv-1" { "R-7" } else { "R-8" };
                assert_eq!(device.ok(&["route", route]), server_route(&data, route), "{name}: route {route}");
            }
            _ => assert_eq!(device.ok(&["stock"]), server_stock_view, "{name}: stock"),
        }
    }
    if deliver {
        // Each driver's route shows its stop delivered.
        assert_eq!(server_route(&data, "R-7")["stops"][0]["state"], "delivered");
        assert_eq!(server_route(&data, "R-8")["done"], 1);
    }
    for name in ["hh-1", "hh-2", "pk-1", "drv-1", "drv-2"] {
        assert!(fleet.by_device.get(name).copied().unwrap_or(0) > 0, "{name} recorded nothing");
    }
    eprintln!("convergence (deliver: {deliver}): {:?}", started.elapsed());
}

#[test]
fn offline_conflicting_work_converges_and_nothing_is_lost() {
    scenario(false);
}

#[test]
fn two_drivers_deliver_the_same_package_and_both_deliveries_reach_the_office() {
    scenario(true);
}
