//! Payment end to end, on a real server with its office API and real
//! agents: a prepaid order held until its authorisation arrives through the
//! API and then allocated; a cash-on-delivery order delivered offline with
//! less cash than due; and the driver's cash reconciliation at the depot
//! showing the difference as an exception.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use waybill_tests::{SEED, Server, api, free_port, free_tcp_port};

/// The seed with SO-1001 paid on delivery: 12.50 EUR.
fn seed_with_cod(dir: &std::path::Path) -> String {
    let mut seed: Value = serde_json::from_str(&std::fs::read_to_string(SEED).unwrap()).unwrap();
    seed["orders"][0]["payment"] = json!({ "terms": "on_delivery", "amount_minor": 1250, "currency": "EUR" });
    let path = dir.join("seed.json");
    std::fs::write(&path, seed.to_string()).unwrap();
    path.display().to_string()
}

fn order(id: &str, payment: Value) -> Value {
    json!({
        "id": id,
        "customer": "Grace Hopper",
        "ship_to": { "name": "Grace Hopper", "line1": "1 Navy Yard", "city": "London", "postcode": "SE1 1AA", "country": "GB" },
        "lines": [{ "line": 1, "gtin": "09506000134376", "description": "Oil can", "quantity": 2 }],
        "location": "wh-1",
        "payment": payment
    })
}

fn create(http: u16, key: &str, body: &Value) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let res = client
        .post(format!("http://127.0.0.1:{http}/api/orders"))
        .bearer_auth(waybill_tests::OFFICE_TOKEN)
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().unwrap_or(Value::Null))
}

fn cash_line(http: u16, route: &str) -> Value {
    let (status, lines) = api(http, "GET", "/api/cash", None);
    assert_eq!(status, 200, "{lines}");
    lines.as_array().unwrap().iter().find(|l| l["route"] == route).cloned().unwrap_or(Value::Null)
}

#[test]
fn prepaid_held_until_authorised_cod_collected_short_and_cash_reconciled() {
    let dir = tempfile::tempdir().unwrap();
    let http = free_tcp_port();
    let server = Server::start_with(&dir.path().join("server"), free_port(), Some(http));
    server.ok(&["import", &seed_with_cod(dir.path())]);

    // Intake refuses terms it cannot take, naming the field.
    for (payment, field) in [
        (json!({ "terms": "barter" }), "payment"),
        (json!({ "terms": "on_delivery", "amount_minor": 0, "currency": "EUR" }), "payment.amount_minor"),
        (json!({ "terms": "on_delivery", "amount_minor": -5, "currency": "EUR" }), "payment"),
        (json!({ "terms": "on_delivery", "amount_minor": 500, "currency": "euro" }), "payment"),
    ] {
        let (status, body) = create(http, "bad", &order("SO-2000", payment.clone()));
        assert_eq!(status, 400, "{payment}: {body}");
        assert!(body["field"].as_str().is_some_and(|f| f.starts_with(field)), "{payment}: {body}");
        assert!(!body["error"].as_str().unwrap().is_empty());
    }

    // A prepaid order waits for its payment: held, and not allocated.
    let (status, view) = create(http, "k-2001", &order("SO-2001", json!({ "terms": "prepaid" })));
    assert_eq!(status, 201, "{view}");
    assert_eq!(view["status"], "held");
    assert_eq!(view["payment"]["state"], "awaiting_payment");
    let (status, body) = api(http, "POST", "/api/allocate", Some(&json!({ "orders": ["SO-2001"] })));
    assert_eq!(status, 400, "{body}");
    let (status, report) = api(http, "POST", "/api/allocate", Some(&json!({})));
    assert_eq!(status, 200, "{report}");
    assert!(report["allocated"].get("SO-2001").is_none(), "{report}");

    // The authorisation lifts the hold; the same reference again changes nothing.
    let pay = json!({ "reference": "psp-77", "amount_minor": 4200, "currency": "EUR" });
    let (status, view) = api(http, "POST", "/api/orders/SO-2001/payment", Some(&pay));
    assert_eq!(status, 201, "{view}");
    assert_eq!(
        (view["status"].as_str(), view["payment"]["state"].as_str()),
        (Some("created"), Some("authorised"))
    );
    let (status, again) = api(http, "POST", "/api/orders/SO-2001/payment", Some(&pay));
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["payment"]["authorisations"].as_array().unwrap().len(), 1);
    let payments = again["timeline"].as_array().unwrap().iter().filter(|t| t["type"] == "payment_authorised");
    assert_eq!(payments.count(), 1, "a repeat writes nothing");
    let (status, report) = api(http, "POST", "/api/allocate", Some(&json!({ "orders": ["SO-2001"] })));
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["allocated"]["SO-2001"][0]["quantity"], 2, "{report}");
    assert_eq!(server.order("SO-2001")["status"], "allocated");
    // Only a prepaid order takes a payment.
    let (status, body) = api(http, "POST", "/api/orders/SO-1001/payment", Some(&pay));
    assert_eq!(status, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("not prepaid"), "{body}");

    // Cash on delivery: the driver's device will not hand SO-1001 over
    // without the money, and records what was collected, offline.
    let driver = waybill_tests::out_for_delivery(dir.path(), &server);
    let (photo, signature) = (dir.path().join("door.jpg"), dir.path().join("sig.png"));
    std::fs::write(&photo, b"jpeg bytes").unwrap();
    std::fs::write(&signature, b"png bytes").unwrap();
    let deliver = |extra: &[&str]| {
        let mut args = vec!["deliver", "--route", "R-7", "--stop", "1", "--recipient", "Ada"];
        args.extend(["--photo", photo.to_str().unwrap(), "--signature", signature.to_str().unwrap()]);
        args.extend(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let args = deliver(&[]);
    let err = driver.fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("12.50 EUR is due"), "{err}");
    let args = deliver(&["--collect", "1000", "--currency", "EUR", "--method", "cash"]);
    driver.ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let local = driver.ok(&["order", "SO-1001"]);
    assert_eq!(local["payment"]["state"], "short", "the device knows before it syncs: {local}");
    driver.sync();

    let view = server.order("SO-1001");
    assert_eq!(view["payment"]["state"], "short", "{view}");
    assert_eq!(view["payment"]["collected_minor"], 1000);
    let short = &view["exceptions"][0];
    assert_eq!(short["id"], "short_collection:order", "{view}");
    assert_eq!((short["due_minor"].as_u64(), short["collected_minor"].as_u64()), (Some(1250), Some(1000)));
    assert!(
        server.open_exceptions().contains_key(&("order/SO-1001".into(), "short_collection:order".into()))
    );

    // At the depot: 10.00 EUR collected in cash, 9.00 EUR handed in.
    let line = cash_line(http, "R-7");
    assert_eq!(
        (line["expected_minor"].as_u64(), line["handed_in"].as_bool()),
        (Some(1000), Some(false)),
        "{line}"
    );
    let (status, body) =
        api(http, "POST", "/api/routes/R-7/cash", Some(&json!({ "amount_minor": 900, "currency": "eur" })));
    assert_eq!((status, body["field"].as_str()), (400, Some("currency")), "{body}");
    let (status, body) =
        api(http, "POST", "/api/routes/R-404/cash", Some(&json!({ "amount_minor": 900, "currency": "EUR" })));
    assert_eq!(status, 404, "{body}");
    let (status, body) =
        api(http, "POST", "/api/routes/R-7/cash", Some(&json!({ "amount_minor": 900, "currency": "EUR" })));
    assert_eq!(status, 201, "{body}");
    let line = &body["cash"][0];
    assert_eq!(line["difference_minor"], -100, "{body}");
    assert_eq!(line["driver"], "drv-1");
    assert_eq!(line["open_exception"], "cash_difference:EUR");
    let open = server.open_exceptions();
    let events = &open[&("route/R-7".to_owned(), "cash_difference:EUR".to_owned())];
    assert_eq!(events.len(), 2, "the cash delivery and the handover: {events:?}");

    // The office settles it: the reconciliation shows it closed.
    let resolve = json!({ "doc": "route/R-7", "exception": "cash_difference:EUR",
        "events": events.iter().collect::<Vec<_>>(), "decision": "write_off", "note": "driver to repay" });
    let (status, body) = api(http, "POST", "/api/exceptions/resolve", Some(&resolve));
    assert_eq!(status, 200, "{body}");
    let line = cash_line(http, "R-7");
    assert_eq!(
        (line["difference_minor"].as_i64(), &line["open_exception"]),
        (Some(-100), &Value::Null),
        "{line}"
    );
    assert!(!server.open_exceptions().contains_key(&("route/R-7".into(), "cash_difference:EUR".into())));
}
