#![allow(clippy::unwrap_used)]
//! Route planning under limits, and a stop added to a route on the road,
//! end to end: a real server with its office API, and real picker, packer
//! and driver agents.
//!
//! Six orders around a depot at King's Cross, promised for today, go
//! through the warehouse with their packages weighed and measured. Five are
//! planned on two vans of two packages each: the four that fit go on the
//! two routes, each once, the early slot is kept and nothing is late; the
//! one heavier than any van is left out as `too_big` and stays packed. A
//! driver goes out and delivers the first stop, with GPS. Then a sixth
//! order is taken in and packed, and a dispatcher adds it to the running
//! route on the office page, in headless Chromium: it goes after the stop
//! done, where the page says, on the driver's device too once it syncs. Adding it again, adding an order not packed
//! and adding one too big for the van are refused, naming the order. Last,
//! the driver finds nobody home at a stop, and the office adds the order
//! again: a second try later on the run, delivered like any stop.

use std::collections::BTreeMap;

use chrono::{NaiveTime, Timelike};
use serde_json::{Value, json};
use waybill_tests::browser::{Browser, wait_for};
use waybill_tests::{Device, OFFICE_TOKEN, SEED, Server, api, free_port, free_tcp_port, pick};

/// The depot, at King's Cross.
const DEPOT: (f64, f64) = (51.5308, -0.1238);

/// The item every order takes one of, and the bin it is in.
const ITEM: &str = "09506000134376";
const BIN: &str = "A-02";

/// The seed's warehouse, placed at [`DEPOT`], and nothing else.
fn seed(dir: &std::path::Path) -> String {
    let seed: Value = serde_json::from_str(&std::fs::read_to_string(SEED).unwrap()).unwrap();
    let mut locations = seed["locations"].clone();
    locations[0]["geo"] = json!({ "lat": DEPOT.0, "lon": DEPOT.1 });
    let path = dir.join("seed.json");
    std::fs::write(&path, json!({ "locations": locations, "orders": [], "routes": [] }).to_string()).unwrap();
    path.display().to_string()
}

/// An API call that must answer `expected`: its body.
fn call(http: u16, method: &str, path: &str, body: Option<&Value>, expected: u16) -> Value {
    let (status, answer) = api(http, method, path, body);
    assert_eq!(status, expected, "{method} {path}: {answer}");
    answer
}

/// An order of one unit of [`ITEM`] to `geo`, promised for `today`, in
/// `slot` if given, taken in through `POST /api/orders`.
fn take_in(http: u16, id: &str, geo: (f64, f64), slot: Option<(&str, &str)>, today: chrono::NaiveDate) {
    let mut order = json!({
        "id": id, "customer": format!("Customer of {id}"), "location": "wh-1", "promised": today,
        "ship_to": { "name": format!("Customer of {id}"), "line1": format!("{id} Street"), "city": "London",
                     "postcode": "N1 9AL", "country": "GB", "geo": { "lat": geo.0, "lon": geo.1 } },
        "lines": [{ "line": 1, "gtin": ITEM, "description": "Oil can", "quantity": 1 }],
    });
    if let Some((from, to)) = slot {
        order["slot"] = json!({ "from": from, "to": to });
    }
    let res = reqwest::blocking::Client::new()
        .post(format!("http://127.0.0.1:{http}/api/orders"))
        .bearer_auth(OFFICE_TOKEN)
        .header("Idempotency-Key", format!("routing-{id}"))
        .json(&order)
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201, "taking {id} in: {}", res.text().unwrap());
}

/// Allocates what is taken in, gives the pick lists to `picker`, who picks
/// each of `packages` (order, SSCC, grams) whole; `packer` packs each
/// order into its package, weighed and measured, and closes it. All synced:
/// each order is packed.
fn through_the_warehouse(
    http: u16,
    server: &Server,
    picker: &Device,
    packer: &Device,
    packages: &[(&str, &str, u32)],
) {
    let report = call(http, "POST", "/api/allocate", Some(&json!({})), 200);
    for (id, ..) in packages {
        assert!(report["allocated"].get(id).is_some(), "{id} not allocated: {report}");
    }
    call(http, "POST", "/api/locations/wh-1/picklists", Some(&json!({ "pickers": ["hh-1"] })), 200);
    picker.sync();
    for (id, ..) in packages {
        picker.ok(&pick(id, "1", BIN, ITEM, "1"));
    }
    assert_eq!(picker.sync()["pending_events"], 0);
    packer.sync();
    for (id, sscc, grams) in packages {
        let grams = grams.to_string();
        let mut pack = vec!["pack", "--order", id, "--package", sscc, "--line", "1:1"];
        pack.extend(["--weight-g", &grams, "--dims", "400x300x200"]);
        packer.ok(&pack);
        packer.ok(&["close", "--order", id, "--package", sscc]);
    }
    assert_eq!(packer.sync()["pending_events"], 0);
    for (id, ..) in packages {
        assert_eq!(server.order(id)["status"], "packed", "{id}");
    }
}

/// A dispatcher signs in to the office page in headless Chromium and adds
/// `order` to `route` there: what the page showed as the route's next stop
/// before, and what it says it did.
fn add_on_the_page(server: &Server, http: u16, route: &str, order: &str) -> (String, String) {
    let browser = Browser::start();
    server.add_user("dora", Some("dispatcher"), "dispatch");
    browser.goto(&format!("http://127.0.0.1:{http}/"));
    browser.type_into(&browser.find("#user"), "dora");
    browser.type_into(&browser.find("#password"), "dispatch");
    browser.click(&browser.find("#signin-form button[type=submit]"));
    let app = browser.find("#app");
    wait_for("the office page", || browser.displayed(&app).then_some(()));
    // Live first: the lists are drawn again when the page connects.
    let live = browser.find("#live");
    wait_for("the live indicator", || (browser.text(&live) == "live").then_some(()));
    browser.tab("routes");
    let input = wait_for("the route's row", || {
        browser
            .find_all(&format!("input[aria-label='Order to add to {route}']"))
            .pop()
            .filter(|i| browser.displayed(i))
    });

    let next = browser.text(&browser.find(&format!("td[data-next='{route}']")));
    browser.type_into(&input, order);
    browser.click(&browser.find(&format!("button[aria-label='Add the order to {route}']")));
    let said = browser.find("#route-added");
    let said = wait_for("the page to say the order was added", || {
        Some(browser.text(&said)).filter(|t| t.starts_with(&format!("{order} added to {route}")))
    });
    (next, said)
}

/// The orders of a route's stops (of the API's plan or a device's view).
fn orders_of(route: &Value) -> Vec<String> {
    let stops = route["stops"].as_array().unwrap();
    stops
        .iter()
        .flat_map(|s| s["orders"].as_array().unwrap())
        .map(|o| o.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn routes_keep_to_van_capacity_and_slots_and_a_stop_is_added_to_a_running_route() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let server = Server::start_with(&dir.path().join("server"), free_port(), Some(http));
    server.ok(&["import", &seed(dir.path())]);
    let picker = Device::enrol(dir.path(), &server, "hh-1", "picker", Some("wh-1"));
    let packer = Device::enrol(dir.path(), &server, "pk-1", "packer", Some("wh-1"));
    let drivers: BTreeMap<&str, Device> =
        ["drv-1", "drv-2"].map(|d| (d, Device::enrol(dir.path(), &server, d, "driver", None))).into();

    // Five orders a few km round the depot; SO-4006 weighs 900 kg.
    // The day's routes, timed from the clock once out; late in the evening
    // (when an hour from now is past the shift) tomorrow's, timed from the
    // shift's start.
    let now = chrono::Utc::now();
    let today = if now.hour() < 21 { now.date_naive() } else { now.date_naive().succ_opt().unwrap() };
    take_in(http, "SO-4001", (51.5246, -0.1340), None, today);
    take_in(http, "SO-4002", (51.5465, -0.1058), Some(("08:00", "09:00")), today);
    take_in(http, "SO-4003", (51.5194, -0.0880), Some(("15:00", "17:00")), today);
    take_in(http, "SO-4004", (51.5560, -0.1100), None, today);
    take_in(http, "SO-4006", (51.5300, -0.1400), None, today);
    let packages = [
        ("SO-4001", "106141411234560201", 2_000),
        ("SO-4002", "106141411234560218", 2_000),
        ("SO-4003", "106141411234560225", 2_000),
        ("SO-4004", "106141411234560232", 2_000),
        ("SO-4006", "106141411234560249", 900_000),
    ];
    through_the_warehouse(http, &server, &picker, &packer, &packages);
    let sscc_of: BTreeMap<&str, &str> = packages.iter().map(|(o, s, _)| (*o, *s)).collect();

    // Two vans of two packages and 500 kg. The shift runs to the end of the
    // day: the stop added below is timed from now, whatever the hour.
    let van = |device: &str, van: &str| {
        json!({ "device": device, "van": van, "shift": { "start": "08:00", "end": "23:00" },
                "capacity": { "packages": 2, "weight_kg": 500 } })
    };
    let plan = call(
        http,
        "POST",
        "/api/locations/wh-1/routes",
        Some(&json!({ "drivers": [van("drv-1", "van-1"), van("drv-2", "van-2")], "date": today })),
        201,
    );
    let routes = plan["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 2, "{plan}");
    let mut routed: Vec<String> = routes.iter().flat_map(orders_of).collect();
    routed.sort();
    assert_eq!(routed, ["SO-4001", "SO-4002", "SO-4003", "SO-4004"], "each plannable order once: {plan}");
    for r in routes {
        assert!(r["load"]["packages"].as_u64().unwrap() <= 2, "over capacity: {r}");
        assert_eq!(r["late_s"], 0, "late: {r}");
        assert_eq!(r["arrivals"].as_array().unwrap().len(), r["stops"].as_array().unwrap().len(), "{r}");
    }
    let early = routes.iter().find(|r| orders_of(r).contains(&"SO-4002".to_owned())).unwrap();
    let at =
        early["stops"].as_array().unwrap().iter().position(|s| s["orders"] == json!(["SO-4002"])).unwrap();
    let arrival: NaiveTime = early["arrivals"][at].as_str().unwrap().parse().unwrap();
    assert!(
        (NaiveTime::from_hms_opt(8, 0, 0).unwrap()..=NaiveTime::from_hms_opt(9, 0, 0).unwrap())
            .contains(&arrival),
        "SO-4002 outside its slot: {early}"
    );
    assert_eq!(plan["unassigned"], json!([{ "order": "SO-4006", "reason": "too_big" }]), "{plan}");
    assert_eq!(call(http, "GET", "/api/orders/SO-4006", None, 200)["status"], "packed");

    // The driver of the first route loads, goes out and delivers stop 1,
    // where its GPS puts the van.
    let route = &routes[0];
    let id = route["id"].as_str().unwrap().to_owned();
    let driver = &drivers[route["driver"].as_str().unwrap()];
    driver.sync();
    for order in orders_of(route) {
        driver.ok(&["load", "--route", &id, "--package", sscc_of[order.as_str()]]);
    }
    driver.ok(&["out", "--route", &id]);
    let first = &route["stops"][0];
    let gps = format!("{},{}", first["address"]["geo"]["lat"], first["address"]["geo"]["lon"]);
    let stop = first["seq"].to_string();
    driver.ok(&["deliver", "--route", &id, "--stop", &stop, "--recipient", "Ada", "--gps", &gps]);
    assert_eq!(driver.sync()["pending_events"], 0);

    // SO-4005 comes in after the van left: refused while not packed ...
    let add =
        |order: &str| api(http, "POST", &format!("/api/routes/{id}/stops"), Some(&json!({ "order": order })));
    take_in(http, "SO-4005", (51.5225, -0.1100), None, today);
    let (status, refused) = add("SO-4005");
    assert_eq!((status, refused["field"].as_str()), (400, Some("order")), "not packed: {refused}");
    // ... and, packed, added to the route after the stop done, by a
    // dispatcher on the office page.
    through_the_warehouse(http, &server, &picker, &packer, &[("SO-4005", "106141411234560256", 2_000)]);
    // The route's stops keep their planned times; the page shows the next
    // one's.
    let stored = call(http, "GET", "/api/routes", None, 200);
    let stored = stored.as_array().unwrap().iter().find(|r| r["id"] == id.as_str()).unwrap();
    let (stops, arrivals) =
        (stored["view"]["stops"].as_array().unwrap(), route["arrivals"].as_array().unwrap());
    assert_eq!(stops.len(), arrivals.len(), "{stored}");
    for (stop, arrival) in stops.iter().zip(arrivals) {
        assert_eq!(stop["planned"], *arrival, "{stored}");
    }
    let (next, said) = add_on_the_page(&server, http, &id, "SO-4005");
    let second = &route["stops"][1];
    let planned = format!("planned {}", &route["arrivals"][1].as_str().unwrap()[..5]);
    assert!(next.starts_with(&format!("{}: ", second["seq"])) && next.ends_with(&planned), "{next}");
    let number =
        |after: &str| said.split(after).nth(1).map(|t| t.split([',', ';']).next().unwrap().to_owned());
    let added = json!({
        "seq": number("as stop ").unwrap().parse::<u64>().unwrap(),
        "before": number("before stop ").map(|n| n.parse::<u64>().unwrap()),
    });
    let seqs: Vec<u64> =
        route["stops"].as_array().unwrap().iter().map(|s| s["seq"].as_u64().unwrap()).collect();
    assert_eq!(added["seq"].as_u64(), Some(seqs.iter().max().unwrap() + 1), "{said}");
    let pending = &seqs[1..];
    assert!(
        added["before"].is_null() || pending.contains(&added["before"].as_u64().unwrap()),
        "before a stop done: {added}"
    );

    // The driver's device shows it there.
    driver.sync();
    let view = driver.ok(&["route", &id]);
    let stops = view["stops"].as_array().unwrap();
    let seq_at = |seq: &Value| stops.iter().position(|s| &s["seq"] == seq).unwrap();
    let new = seq_at(&added["seq"]);
    assert_eq!(stops[new]["orders"], json!(["SO-4005"]), "{view}");
    assert_eq!(stops[new]["state"], "pending", "{view}");
    assert!(new > seq_at(&first["seq"]), "the new stop comes before the stop done: {view}");
    match added["before"].as_u64() {
        Some(_) => assert_eq!(stops[new + 1]["seq"], added["before"], "{view}"),
        None => assert_eq!(new, stops.len() - 1, "{view}"),
    }
    assert_eq!(view["next_stop"], stops[1]["seq"], "the driver's next stop: {view}");

    // Added again, or too big for the van: refused, naming the order.
    for (order, why) in [("SO-4005", "already"), ("SO-4006", "does not fit")] {
        let (status, refused) = add(order);
        assert_eq!((status, refused["field"].as_str()), (400, Some("order")), "{order}: {refused}");
        assert!(refused["error"].as_str().unwrap().contains(why), "{order}: {refused}");
    }
    assert_eq!(orders_of(&driver.ok(&["route", &id])).len(), 3);

    // Nobody home at the route's second stop as planned: the dispatcher
    // re-plans, and the order is tried again later on the same run, after
    // the failed stop.
    let next = route["stops"][1]["seq"].clone();
    let failed_order = stops[seq_at(&next)]["orders"][0].as_str().unwrap().to_owned();
    driver.ok(&["fail", "--route", &id, "--stop", &next.to_string(), "--reason", "not-home"]);
    assert_eq!(driver.sync()["pending_events"], 0);
    let again =
        call(http, "POST", &format!("/api/routes/{id}/stops"), Some(&json!({ "order": failed_order })), 201);
    // Asked twice (a double click), it is added once.
    let (status, twice) = add(&failed_order);
    assert_eq!((status, twice["field"].as_str()), (400, Some("order")), "{twice}");
    assert!(twice["error"].as_str().unwrap().contains("already"), "{twice}");
    driver.sync();
    let view = driver.ok(&["route", &id]);
    let stops = view["stops"].as_array().unwrap();
    let at = |seq: &Value| stops.iter().position(|s| &s["seq"] == seq).unwrap();
    let tries = stops.iter().filter(|s| s["orders"] == json!([failed_order])).count();
    assert_eq!(tries, 2, "the first try and one more: {view}");
    assert_eq!(stops[at(&next)]["state"], "failed", "{view}");
    assert_eq!(stops[at(&again["seq"])]["orders"], json!([failed_order]), "{view}");
    assert!(at(&again["seq"]) > at(&next), "the second try comes after the first: {view}");
    // The second try is delivered like any stop.
    let retry = again["seq"].to_string();
    driver.ok(&["deliver", "--route", &id, "--stop", &retry, "--recipient", "Ada", "--gps", &gps]);
    assert_eq!(driver.sync()["pending_events"], 0);
    let order = call(http, "GET", &format!("/api/orders/{failed_order}"), None, 200);
    assert!(["delivered", "completed"].contains(&order["status"].as_str().unwrap()), "{order}");
}
