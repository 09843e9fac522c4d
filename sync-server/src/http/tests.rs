//! API tests: a real server's shared state in a temporary directory, the
//! router called in-process.

#![allow(clippy::unwrap_used)]

mod contract;
mod listing;
mod roles;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;
use waybill_shared::doc::DocId;
use waybill_shared::event::Payload;
use waybill_shared::event::office::Replaces;

use super::router;
use crate::server::Shared;
use crate::storage::{WriteOp, args};
use crate::{Config, Limits, Server, ingest};

const TOKEN: &str = "s3cret-office-token";

struct Fixture {
    _dir: tempfile::TempDir,
    _server: Server,
    shared: Arc<Shared>,
    app: Router,
}

async fn start() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(Config {
        data_dir: dir.path().to_path_buf(),
        database: crate::storage::Database::Sqlite(crate::server::db_path(dir.path())),
        listen: "127.0.0.1:0".parse().unwrap(),
        limits: Limits::default(),
    })
    .await
    .unwrap();
    let shared = server.shared();
    let app = router(shared.clone(), TOKEN.to_owned());
    Fixture { _dir: dir, _server: server, shared, app }
}

impl Fixture {
    /// Calls the API signed in; `headers` are added.
    async fn call(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut all = vec![("authorization", format!("Bearer {TOKEN}"))];
        all.extend(headers.iter().map(|(k, v)| (*k, (*v).to_owned())));
        self.raw(method, uri, &all, body.map(|b| b.to_string())).await
    }

    async fn raw(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, String)],
        body: Option<String>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 16 << 20).await.unwrap();
        let v = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        contract::check(method, uri, status, &v);
        (status, v)
    }

    /// Adds user `name` and signs in: the `Cookie` header to send.
    async fn session(&self, name: &str) -> String {
        crate::users::add(&self.shared.storage, name, "correct horse", chrono::Utc::now()).await.unwrap();
        let req = Request::post("/api/session")
            .header("content-type", "application/json")
            .body(Body::from(json!({ "user": name, "password": "correct horse" }).to_string()))
            .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"), "{set}");
        set.split(';').next().unwrap().to_owned()
    }

    async fn create(&self, key: &str, order: Value) -> (StatusCode, Value) {
        self.call("POST", "/api/orders", &[("idempotency-key", key)], Some(order)).await
    }
}

fn order(id: &str) -> Value {
    json!({
        "id": id,
        "customer": "Ada Lovelace",
        "ship_to": { "name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London", "postcode": "SW1Y 4JH", "country": "GB" },
        "lines": [
            { "line": 1, "gtin": "09506000134352", "description": "Brass gear, 40 teeth", "quantity": 2 },
            { "line": 2, "gtin": "09506000134369", "description": "Punched card deck", "quantity": 1 }
        ],
        "location": "wh-1"
    })
}

fn assert_error(status: StatusCode, body: &Value, want: StatusCode, field: &str) {
    assert_eq!(status, want, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
    assert_eq!(body["field"], field, "{body}");
}

#[tokio::test]
async fn every_api_route_wants_the_token_and_openapi_is_public() {
    let f = start().await;
    let routes = [
        ("GET", "/api/orders"),
        ("POST", "/api/orders"),
        ("GET", "/api/orders/SO-1"),
        ("POST", "/api/orders/SO-1/hold"),
        ("POST", "/api/orders/SO-1/release"),
        ("POST", "/api/orders/SO-1/cancel"),
        ("POST", "/api/orders/SO-1/address"),
        ("POST", "/api/orders/SO-1/payment"),
        ("POST", "/api/routes/R-1/cash"),
        ("GET", "/api/cash"),
        ("GET", "/api/exceptions"),
        ("POST", "/api/exceptions/resolve"),
        ("GET", "/api/devices"),
        ("POST", "/api/devices"),
        ("POST", "/api/devices/hh-1/revoke"),
        ("GET", "/api/stock"),
        ("GET", "/api/session"),
        ("DELETE", "/api/session"),
        ("GET", "/api/audit"),
        ("GET", "/api/webhooks"),
        ("POST", "/api/webhooks"),
        ("DELETE", "/api/webhooks/1"),
        ("POST", "/api/orders/import"),
        ("GET", "/api/orders/SO-1/epcis"),
        ("GET", "/api/locations"),
        ("POST", "/api/locations"),
        ("POST", "/api/locations/wh-1/receipts"),
        ("POST", "/api/locations/wh-1/picklists"),
        ("POST", "/api/locations/wh-1/routes"),
        ("GET", "/api/locations/wh-1/epcis"),
        ("POST", "/api/locations/wh-1/quotas"),
        ("POST", "/api/locations/wh-1/quotas/grant"),
        ("GET", "/api/quotas"),
        ("POST", "/api/allocate"),
        ("GET", "/api/routes"),
        ("GET", "/api/metrics"),
        ("GET", "/api/events"),
        ("GET", "/api/blobs/ab"),
        ("GET", "/api/nothing-here"),
    ];
    for (method, uri) in routes {
        for auth in [
            vec![],
            vec![("authorization", "Bearer wrong".to_owned())],
            vec![("authorization", TOKEN.to_owned())],
        ] {
            let (status, body) = f.raw(method, uri, &auth, None).await;
            assert_error(status, &body, StatusCode::UNAUTHORIZED, "Authorization");
        }
    }
    // An empty configured token lets nobody in.
    let closed = router(f.shared.clone(), String::new());
    let req = Request::get("/api/orders").header("authorization", "Bearer ").body(Body::empty()).unwrap();
    assert_eq!(closed.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);

    let (status, doc) = f.raw("GET", "/openapi.json", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    // Every route above (but the unknown one) is described.
    for (method, uri) in &routes[..routes.len() - 1] {
        let path = uri
            .replace("SO-1", "{id}")
            .replace("hh-1", "{id}")
            .replace("wh-1", "{id}")
            .replace("R-1", "{id}")
            .replace("/1", "/{id}")
            .replace("/ab", "/{hash}");
        assert!(doc["paths"][&path][method.to_lowercase()].is_object(), "{method} {path} not described");
    }
}

#[tokio::test]
async fn create_order_is_idempotent_and_listed() {
    let f = start().await;
    let (status, view) = f.create("key-1", order("SO-1")).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["header"]["id"], "SO-1");
    assert_eq!(view["status"], "created");
    assert_eq!(view["timeline"][0]["type"], "order_created");
    assert_eq!(view["timeline"][0]["id"], "office:1");
    let (_, stored) = f.call("GET", "/api/orders/SO-1", &[], None).await;
    assert!(stored["timeline"][0]["received_at"].as_str().is_some(), "{stored}");

    // The same key again: the same order, not another; even with another body.
    let (status, again) = f.create("key-1", order("SO-1")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["header"], view["header"]);
    assert_eq!(again["timeline"].as_array().unwrap().len(), 1);
    let (status, again) = f.create("key-1", order("SO-2")).await;
    assert_eq!((status, &again["header"]["id"]), (StatusCode::OK, &json!("SO-1")));

    // The same order id under a new key is a conflict, and writes nothing.
    let (status, body) = f.create("key-2", order("SO-1")).await;
    assert_error(status, &body, StatusCode::CONFLICT, "id");

    let (status, view2) = f.create("key-3", order("SO-2")).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(view2["timeline"][0]["id"], "office:2", "the office recorder carries on");

    let (status, list) = f.call("GET", "/api/orders", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["SO-1", "SO-2"]);
    assert_eq!(list[0]["status"], "created");
    assert_eq!(list[0]["customer"], "Ada Lovelace");
    assert_eq!(list[0]["open_exceptions"], 0);

    let (_, created) = f.call("GET", "/api/orders?status=created", &[], None).await;
    assert_eq!(created.as_array().unwrap().len(), 2);
    let (_, held) = f.call("GET", "/api/orders?status=held", &[], None).await;
    assert_eq!(held, json!([]));
    let (status, body) = f.call("GET", "/api/orders?status=lost", &[], None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "status");

    let (status, got) = f.call("GET", "/api/orders/SO-1", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["header"], view["header"]);

    // The document is stored, and the meta recorder with it.
    let stored: Vec<i64> = f
        .shared
        .storage
        .query("SELECT COUNT(*) FROM docs WHERE kind = 'order'", args![], |r| r.get(0))
        .await
        .unwrap();
    assert_eq!(stored, [2]);
}

#[tokio::test]
async fn create_order_refuses_bad_input_naming_the_field() {
    let f = start().await;
    let (status, body) = f.call("POST", "/api/orders", &[], Some(order("SO-1"))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "Idempotency-Key");
    let (status, body) = f.create("  ", order("SO-1")).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "Idempotency-Key");

    let mut missing = order("SO-1");
    missing.as_object_mut().unwrap().remove("customer");
    let cases: Vec<(Value, &str)> = vec![
        (missing, "customer"),
        (json!({ "id": "SO-1" }), "customer"),
        (
            {
                let mut o = order("SO-1");
                o["ship_to"].as_object_mut().unwrap().remove("city");
                o
            },
            "ship_to.city",
        ),
        (
            {
                let mut o = order("SO-1");
                o["lines"][0]["quantity"] = json!("two");
                o
            },
            "lines[0].quantity",
        ),
        (
            {
                let mut o = order("SO-1");
                o["lines"][1]["gtin"] = json!("09506000134353");
                o
            },
            "lines[1].gtin",
        ),
        (
            {
                let mut o = order("SO-1");
                o["id"] = json!("SO 1");
                o
            },
            "id",
        ),
        (
            {
                let mut o = order("SO-1");
                o["colour"] = json!("red");
                o
            },
            "colour",
        ),
        (
            {
                let mut o = order("SO-1");
                o["customer"] = json!(" ");
                o
            },
            "customer",
        ),
        (
            {
                let mut o = order("SO-1");
                o["lines"] = json!([]);
                o
            },
            "lines",
        ),
        (
            {
                let mut o = order("SO-1");
                o["lines"][1]["line"] = json!(1);
                o
            },
            "lines[1].line",
        ),
        (
            {
                let mut o = order("SO-1");
                o["lines"][0]["quantity"] = json!(0);
                o
            },
            "lines[0].quantity",
        ),
        (
            {
                let mut o = order("SO-1");
                o["ship_to"]["country"] = json!("Britain");
                o
            },
            "ship_to.country",
        ),
    ];
    for (i, (body, field)) in cases.into_iter().enumerate() {
        let (status, err) = f.create(&format!("k{i}"), body).await;
        assert_error(status, &err, StatusCode::BAD_REQUEST, field);
    }
    // Not JSON at all.
    let auth = ("authorization", format!("Bearer {TOKEN}"));
    let key = ("idempotency-key", "k-syntax".to_owned());
    let (status, err) =
        f.raw("POST", "/api/orders", &[auth.clone(), key.clone()], Some("{\"id\":".into())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
    assert!(err["error"].is_string());
    let (status, err) = f.raw("POST", "/api/orders", &[auth, key], None).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{err}");

    // Nothing was written by any of it.
    let (_, list) = f.call("GET", "/api/orders", &[], None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn unknown_and_invalid_orders() {
    let f = start().await;
    let (status, body) = f.call("GET", "/api/orders/SO-404", &[], None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "id");
    assert_eq!(body["error"], "no order SO-404: GET /api/orders lists them");
    let (status, body) = f.call("GET", "/api/nope", &[], None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"].as_str().unwrap().contains("/openapi.json"), "{body}");
    let (status, body) = f.call("GET", "/api/orders/SO%20404", &[], None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "id");
    let (status, body) = f.call("POST", "/api/orders/SO-404/hold", &[], Some(json!({ "reason": "x" }))).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "id");
    let (status, body) = f.call("POST", "/api/orders/SO-404/release", &[], None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "id");
    let (status, body) = f.call("DELETE", "/api/orders/SO-404", &[], None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert!(body["error"].as_str().unwrap().contains("/openapi.json"), "{body}");
}

#[tokio::test]
async fn hold_release_amend_cancel() {
    let f = start().await;
    f.create("k", order("SO-1")).await;

    let (status, body) = f.call("POST", "/api/orders/SO-1/hold", &[], Some(json!({}))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "reason");
    let (status, body) = f.call("POST", "/api/orders/SO-1/hold", &[], Some(json!({ "reason": "  " }))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "reason");

    let (status, view) =
        f.call("POST", "/api/orders/SO-1/hold", &[], Some(json!({ "reason": "fraud check" }))).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!((view["status"].as_str(), view["held"].as_bool()), (Some("held"), Some(true)));
    let (_, held) = f.call("GET", "/api/orders?status=held", &[], None).await;
    assert_eq!(held[0]["id"], "SO-1");

    let (status, view) = f.call("POST", "/api/orders/SO-1/release", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["held"], false);
    assert_ne!(view["status"], "held");

    let new_address = json!({ "name": "Ada King", "line1": "1 Ockham Park", "city": "Ockham", "postcode": "GU23 6NP", "country": "GB" });
    let (status, body) =
        f.call("POST", "/api/orders/SO-1/address", &[], Some(json!({ "ship_to": { "name": "Ada" } }))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "ship_to.line1");
    let (status, view) =
        f.call("POST", "/api/orders/SO-1/address", &[], Some(json!({ "ship_to": new_address }))).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["ship_to"]["city"], "Ockham");
    // Each amendment names the address it replaces, as the server held it.
    let (status, view) =
        f.call("POST", "/api/orders/SO-1/address", &[], Some(json!({ "ship_to": new_address }))).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["exceptions"], json!([]));
    let id: DocId = "order/SO-1".parse().unwrap();
    let entry = f.shared.docs.get(&f.shared.storage, &id).await.unwrap().unwrap();
    let events = waybill_shared::doc::order::read(entry.lock().await.doc.document()).unwrap().events;
    let replaces: Vec<_> = events
        .iter()
        .filter_map(|e| match &e.payload {
            Payload::AddressAmended(a) => Some((e.id.to_string(), a.replaces.clone())),
            _ => None,
        })
        .collect();
    let first = "office:4".parse().unwrap();
    assert_eq!(
        replaces,
        [("office:4".into(), Some(Replaces::Header)), ("office:5".into(), Some(Replaces::Amendment(first)))]
    );

    let (status, view) =
        f.call("POST", "/api/orders/SO-1/cancel", &[], Some(json!({ "reason": "customer asked" }))).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["status"], "cancelled");
    let kinds: Vec<&str> =
        view["timeline"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["order_created", "held", "released", "address_amended", "address_amended", "cancelled"]
    );
    let ids: Vec<&str> =
        view["timeline"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["office:1", "office:2", "office:3", "office:4", "office:5", "office:6"]);

    // What the API answered is what is stored: a fresh load agrees.
    f.shared.docs.forget(&"order/SO-1".parse().unwrap());
    let (_, got) = f.call("GET", "/api/orders/SO-1", &[], None).await;
    assert_eq!(got["timeline"], view["timeline"]);
}

#[tokio::test]
async fn resolving_an_exception_is_an_office_event() {
    let f = start().await;
    let (_, view) = f.create("k", order("SO-1")).await;
    let created = view["timeline"][0]["id"].clone();

    let (status, list) = f.call("GET", "/api/exceptions", &[], None).await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));

    let good = json!({
        "doc": "order/SO-1", "exception": "delivered_after_cancel:SO-1",
        "events": [created], "decision": "accept", "note": "checked with the driver"
    });
    for (field, value, want) in [
        ("decision", json!("shrug"), "decision"),
        ("doc", json!("van/1"), "doc"),
        ("events", json!(["not an id"]), "events[0]"),
        ("events", json!([]), "events"),
        ("exception", json!(""), "exception"),
    ] {
        let mut bad = good.clone();
        bad[field] = value;
        let (status, body) = f.call("POST", "/api/exceptions/resolve", &[], Some(bad)).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, want);
    }
    let mut unknown = good.clone();
    unknown["doc"] = json!("order/SO-9");
    let (status, body) = f.call("POST", "/api/exceptions/resolve", &[], Some(unknown)).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "id");
    // Resolutions go in any document, but it must exist.
    let mut route = good.clone();
    route["doc"] = json!("route/R-1");
    let (status, _) = f.call("POST", "/api/exceptions/resolve", &[], Some(route)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, body) = f.call("POST", "/api/exceptions/resolve", &[], Some(good)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["event"]["payload"]["type"], "exception_resolved");
    assert_eq!(body["event"]["payload"]["decision"], "accept");
    let (_, view) = f.call("GET", "/api/orders/SO-1", &[], None).await;
    let timeline = view["timeline"].as_array().unwrap();
    assert!(timeline.iter().any(|e| e["type"] == "exception_resolved" && e["id"] == body["event"]["id"]));
}

#[tokio::test]
async fn exceptions_are_listed_in_words_and_take_only_decisions_that_fit() {
    let f = start().await;
    f.create("k", order("SO-1")).await;
    // A customer's low rating: an exception of the order.
    let rating = Payload::FeedbackGiven(waybill_shared::event::customer::FeedbackGiven {
        rating: 1,
        comment: "late".into(),
    });
    let doc: DocId = "order/SO-1".parse().unwrap();
    let rated = crate::office::office_event(&f.shared, &doc, rating, Some("customer".into())).await.unwrap();

    let (status, list) = f.call("GET", "/api/exceptions", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let x = &list[0];
    assert_eq!((&x["id"], &x["document"]), (&json!("low_rating"), &json!("order SO-1")), "{list}");
    assert_eq!(x["title"], "Customer rated the delivery low");
    assert!(x["explanation"].as_str().unwrap().contains("follow it up"), "{x}");
    let fit: Vec<&str> =
        x["decisions"].as_array().unwrap().iter().map(|d| d["decision"].as_str().unwrap()).collect();
    assert_eq!(fit, ["accept", "refund", "redeliver"]);
    let happened = &x["happened"][0];
    assert_eq!(happened["event"], rated.id.to_string());
    assert_eq!((&happened["device"], &happened["role"]), (&json!("office"), &json!("office")), "{x}");
    assert_eq!(
        (&happened["what"], &happened["by"]),
        (&json!("customer rated the delivery"), &json!("customer"))
    );
    assert_eq!(happened["at"], rated.at.to_rfc3339());

    // A decision that does not fit the kind is refused, naming those that do.
    let resolve = |decision: &str, exception: &str| json!({ "doc": "order/SO-1", "exception": exception, "events": [rated.id.to_string()], "decision": decision });
    let (status, body) =
        f.call("POST", "/api/exceptions/resolve", &[], Some(resolve("restock", "low_rating"))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "decision");
    assert!(body["error"].as_str().unwrap().contains("accept, refund, redeliver"), "{body}");
    let (status, body) =
        f.call("POST", "/api/exceptions/resolve", &[], Some(resolve("accept", "shrug:1"))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "exception");
    let (_, still) = f.call("GET", "/api/exceptions", &[], None).await;
    assert_eq!(still.as_array().unwrap().len(), 1, "nothing was written: {still}");

    let (status, body) =
        f.call("POST", "/api/exceptions/resolve", &[], Some(resolve("refund", "low_rating"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = f.call("GET", "/api/exceptions", &[], None).await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn devices_enrol_list_revoke() {
    let f = start().await;
    let location = json!({ "id": "wh-1", "name": "Main", "bins": [{ "id": "A-01", "walk": 1 }] });
    assert_eq!(f.call("POST", "/api/locations", &[], Some(location)).await.0, StatusCode::CREATED);
    let (status, enrolled) = f
        .call(
            "POST",
            "/api/devices",
            &[],
            Some(json!({ "device": "hh-1", "role": "picker", "location": "wh-1" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{enrolled}");
    assert_eq!(enrolled["code"].as_str().unwrap().len(), 26);
    assert_eq!(enrolled["fingerprint"], f.shared.identity.ca_fingerprint());

    for (body, field) in [
        (json!({ "device": "hh-2", "role": "cook" }), "role"),
        (json!({ "device": "hh-2", "role": "picker" }), "location"),
        (json!({ "device": "hh-2", "role": "picker", "location": "wh-9" }), "location"),
        (json!({ "device": "hh 2", "role": "driver" }), "device"),
        (json!({ "role": "driver" }), "device"),
        (json!({ "device": "hh-2", "role": "driver", "van": "v1" }), "van"),
    ] {
        let (status, err) = f.call("POST", "/api/devices", &[], Some(body)).await;
        assert_error(status, &err, StatusCode::BAD_REQUEST, field);
    }

    let (status, list) = f.call("GET", "/api/devices", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["id"], "hh-1");
    assert_eq!(list[0]["role"], "picker");
    assert_eq!(list[0]["location"], "wh-1");
    assert_eq!(list[0]["revoked_at"], Value::Null);

    let (status, body) = f.call("POST", "/api/devices/hh-1/revoke", &[], None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = f.call("GET", "/api/devices", &[], None).await;
    assert!(list[0]["revoked_at"].is_string(), "{list}");
    let revoked = crate::devices::revoked(&f.shared.storage).await.unwrap();
    assert!(revoked.contains("hh-1"));

    let (status, body) = f.call("POST", "/api/devices/hh-9/revoke", &[], None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "id");
}

#[tokio::test]
async fn stock_from_the_projection() {
    let f = start().await;
    let (status, empty) = f.call("GET", "/api/stock", &[], None).await;
    assert_eq!((status, empty), (StatusCode::OK, json!([])));

    // A location as the office imports it (waybill-server import).
    let seed: waybill_shared::seed::Seed =
        serde_json::from_str(include_str!("../../../agent/demo/seed.json")).unwrap();
    let seed = waybill_shared::seed::Seed { orders: vec![], routes: vec![], ..seed };
    let mut office =
        waybill_shared::recorder::Recorder::new(waybill_shared::id::DeviceId::new("office").unwrap());
    let mut ops = Vec::new();
    for (id, mut doc) in
        waybill_shared::seed::build(&seed, &mut office, chrono::Utc::now(), |_| false).unwrap()
    {
        ops.push(WriteOp::PutDoc {
            id: id.clone(),
            snapshot: doc.save(),
            heads: doc.get_heads(),
            stored: None,
        });
        ops.extend(ingest::project(&f.shared.blobs, &id, &mut doc).await.unwrap());
    }
    f.shared.writer.write(ops).await.unwrap();

    let (status, stock) = f.call("GET", "/api/stock", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    let rows = stock.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{stock}");
    assert!(
        rows.contains(&json!({ "location": "wh-1", "bin": "A-01", "gtin": "09506000134352", "on_hand": 12 }))
    );
}

#[tokio::test]
async fn the_page_is_served_at_the_root() {
    let f = start().await;
    let res = f.app.clone().oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let kind = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/html"), "{kind}");
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let page = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(page.contains("<title>Waybill office</title>"), "{page}");
    // Quotas per device have their table, filled from /api/quotas.
    assert!(page.contains(r#"<tbody id="quotas">"#) && page.contains(r#"api("GET", "/api/quotas")"#));
}

#[tokio::test]
async fn events_stream_changes_to_signed_in_listeners() {
    use tokio_stream::StreamExt;

    let f = start().await;
    let get = |uri: &str| Request::get(uri).body(Body::empty()).unwrap();
    for uri in ["/api/events", "/api/events?token=wrong", &format!("/api/events?token={TOKEN}")] {
        let res = f.app.clone().oneshot(get(uri)).await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{uri}");
    }
    // The page's EventSource sends the session cookie.
    let cookie = f.session("ana").await;
    let req = Request::get("/api/events").header("cookie", cookie).body(Body::empty());
    let res = f.app.clone().oneshot(req.unwrap()).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body().into_data_stream();

    let (status, _) = f.create("k-1", order("SO-1")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) =
        f.call("POST", "/api/orders/SO-1/hold", &[], Some(json!({ "reason": "fraud check" }))).await;
    assert_eq!(status, StatusCode::OK);

    // Creating and holding each announce the order.
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while text.matches("event: changed\ndata: order/SO-1\n\n").count() < 2 {
        let chunk = tokio::time::timeout_at(deadline, body.next())
            .await
            .unwrap_or_else(|_| panic!("no changed events in time; got {text:?}"))
            .expect("the stream ended")
            .unwrap();
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }

    // A signed-in header works too.
    let req =
        Request::get("/api/events").header("authorization", format!("Bearer {TOKEN}")).body(Body::empty());
    assert_eq!(f.app.clone().oneshot(req.unwrap()).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn office_users_sign_in_act_under_their_name_and_sign_out() {
    let f = start().await;
    crate::users::add(&f.shared.storage, "ana", "correct horse", chrono::Utc::now()).await.unwrap();
    let sign_in = |password: &str| Some(json!({ "user": "ana", "password": password }));
    let (status, body) =
        f.raw("POST", "/api/session", &[], sign_in("wrong horse").map(|b| b.to_string())).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "password");
    let (status, body) = f.raw("POST", "/api/session", &[], Some(r#"{"user": "ana"}"#.to_owned())).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "password");
    let (status, session) =
        f.raw("POST", "/api/session", &[], sign_in("correct horse").map(|b| b.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    let bearer = vec![("authorization", format!("Bearer {token}"))];
    let (status, me) = f.raw("GET", "/api/session", &bearer, None).await;
    assert_eq!((status, &me["user"]), (StatusCode::OK, &json!("ana")));

    // The cookie works as well as the bearer token; office events carry the user.
    let cookie = vec![("cookie", format!("other=1; waybill_session={token}"))];
    let mut with_key = cookie.clone();
    with_key.push(("idempotency-key", "k-1".to_owned()));
    let (status, view) = f.raw("POST", "/api/orders", &with_key, Some(order("SO-1").to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["timeline"][0]["by"], "ana");
    // Scripts with the service token act as `api`.
    let (_, view) = f.call("POST", "/api/orders/SO-1/hold", &[], Some(json!({ "reason": "check" }))).await;
    assert_eq!(view["timeline"][1]["by"], "api");

    let (status, _) = f.raw("DELETE", "/api/session", &cookie, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for auth in [cookie, bearer] {
        let (status, body) = f.raw("GET", "/api/orders", &auth, None).await;
        assert_error(status, &body, StatusCode::UNAUTHORIZED, "Authorization");
    }
}

#[tokio::test]
async fn webhooks_are_registered_listed_and_queue_notifications() {
    let f = start().await;
    for (url, why) in
        [("not a url", "unparsable"), ("ftp://example.com/hook", "scheme"), ("http://", "no host")]
    {
        let (status, body) = f.call("POST", "/api/webhooks", &[], Some(json!({ "url": url }))).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "url");
        assert!(body["error"].as_str().unwrap().starts_with("url:"), "{why}: {body}");
    }
    let (status, hook) =
        f.call("POST", "/api/webhooks", &[], Some(json!({ "url": "http://127.0.0.1:9/hook" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{hook}");
    assert!(hook["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = hook["webhook"]["id"].as_i64().unwrap();

    f.create("k-1", order("SO-1")).await;
    let (_, list) = f.call("GET", "/api/webhooks", &[], None).await;
    assert_eq!(list[0]["url"], "http://127.0.0.1:9/hook");
    assert!(list[0].get("secret").is_none(), "the secret is shown once: {list}");
    let queued: Vec<(String, String)> = f
        .shared
        .storage
        .query("SELECT key, topic FROM outbox WHERE webhook = ?1", args![id], |r| Ok((r.get(0)?, r.get(1)?)))
        .await
        .unwrap();
    assert_eq!(queued, [("SO-1:confirmed".to_owned(), "order.confirmed".to_owned())]);

    let (status, _) = f.call("DELETE", &format!("/api/webhooks/{id}"), &[], None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = f.call("DELETE", &format!("/api/webhooks/{id}"), &[], None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "id");
}

impl Fixture {
    async fn csv(&self, text: &str, kind: &str) -> (StatusCode, Value) {
        let headers = [("authorization", format!("Bearer {TOKEN}")), ("content-type", kind.to_owned())];
        let mut req = Request::builder().method("POST").uri("/api/orders/import");
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        let res = self.app.clone().oneshot(req.body(Body::from(text.to_owned())).unwrap()).await.unwrap();
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        contract::check("POST", "/api/orders/import", status, &v);
        (status, v)
    }
}

const CSV_HEAD: &str =
    "order_id,customer,name,line1,city,postcode,country,lat,lon,gtin,description,quantity,promised\n";

#[tokio::test]
async fn locations_receipts_csv_allocation_and_pick_lists() {
    let f = start().await;
    let location = json!({
        "id": "wh-1", "name": "Main", "geo": { "lat": 51.5, "lon": -0.1 }, "time_zone": "Europe/London",
        "bins": [{ "id": "A-01", "walk": 1 }, { "id": "B-01", "walk": 2 }],
        "opening": [{ "bin": "A-01", "gtin": "09506000134352", "quantity": 5 }]
    });
    let mut bad = location.clone();
    bad["opening"][0]["bin"] = json!("Z-99");
    let (status, body) = f.call("POST", "/api/locations", &[], Some(bad)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "opening[0].bin");
    let mut bad = location.clone();
    bad["time_zone"] = json!("London");
    let (status, body) = f.call("POST", "/api/locations", &[], Some(bad)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "time_zone");
    let (status, body) = f.call("POST", "/api/locations", &[], Some(location.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = f.call("POST", "/api/locations", &[], Some(location)).await;
    assert_error(status, &body, StatusCode::CONFLICT, "id");
    let (_, list) = f.call("GET", "/api/locations", &[], None).await;
    assert_eq!(list[0]["doc"], "location/wh-1/0");
    assert_eq!(list[0]["header"]["time_zone"], "Europe/London");

    // Receipts: checked, then stock goes up.
    let receipt =
        |bin: &str, qty: u32| Some(json!({ "bin": bin, "gtin": "09506000134369", "quantity": qty }));
    let (status, body) = f.call("POST", "/api/locations/wh-1/receipts", &[], receipt("Z-99", 3)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "bin");
    let (status, body) = f.call("POST", "/api/locations/wh-1/receipts", &[], receipt("B-01", 0)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "quantity");
    let (status, body) = f.call("POST", "/api/locations/nowhere/receipts", &[], receipt("B-01", 3)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "location");
    let (status, body) = f.call("POST", "/api/locations/wh-1/receipts", &[], receipt("B-01", 3)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, stock) = f.call("GET", "/api/stock", &[], None).await;
    assert!(
        stock
            .as_array()
            .unwrap()
            .contains(&json!({ "location": "wh-1", "bin": "B-01", "gtin": "09506000134369", "on_hand": 3 }))
    );
    let (status, doc) = f.call("GET", "/api/locations/wh-1/epcis", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["epcisBody"]["eventList"][0]["bizStep"], "receiving", "{doc}");
    let (status, body) = f.call("GET", "/api/locations/nowhere/epcis", &[], None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "id");

    // Orders from CSV: the wrong media type, a bad row, then for real, twice.
    let good = format!(
        "{CSV_HEAD}SO-1,Ada,Ada,1 High St,London,N1 1AA,GB,51.51,-0.12,09506000134352,Gear,4,2026-11-25\n\
         SO-2,Bob,Bob,2 High St,London,N1 1AB,GB,51.52,-0.13,09506000134352,Gear,3,2026-11-26\n\
         SO-2,Bob,Bob,2 High St,London,N1 1AB,GB,51.52,-0.13,09506000134369,Cards,2,2026-11-26\n"
    );
    let (status, body) = f.csv(&good, "application/json").await;
    assert_error(status, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE, "Content-Type");
    let (status, body) = f.csv(&good.replace(",4,", ",four,"), "text/csv").await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "row 2.quantity");
    let (_, orders) = f.call("GET", "/api/orders", &[], None).await;
    assert_eq!(orders, json!([]), "a bad file takes nothing");
    let (status, body) = f.csv(&good, "text/csv; charset=utf-8").await;
    assert_eq!((status, &body["created"]), (StatusCode::OK, &json!(["order/SO-1", "order/SO-2"])), "{body}");
    let (_, body) = f.csv(&good, "text/csv").await;
    assert_eq!(body["already_held"], json!(["SO-1", "SO-2"]));

    // Allocation: SO-1 (promised first) takes 4 of the 5 gears; SO-2 gets
    // the last one and the cards, and backorders 2 gears.
    let (status, body) = f.call("POST", "/api/allocate", &[], Some(json!({ "orders": ["SO-9"] }))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "orders[0]");
    let (status, report) = f.call("POST", "/api/allocate", &[], Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["allocated"]["SO-1"], json!([{ "line": 1, "location": "wh-1", "quantity": 4 }]));
    assert_eq!(
        report["backordered"]["SO-2"],
        json!([{ "line": 1, "gtin": "09506000134352", "quantity": 2 }])
    );
    let (_, view) = f.call("GET", "/api/orders/SO-1", &[], None).await;
    assert_eq!(view["status"], "allocated");
    // Nothing is waiting any more.
    let (_, again) = f.call("POST", "/api/allocate", &[], Some(json!({}))).await;
    assert_eq!(again["allocated"], json!({}));

    // Pick lists go to enrolled pickers of the location only.
    let (status, body) =
        f.call("POST", "/api/locations/wh-1/picklists", &[], Some(json!({ "pickers": ["hh-1"] }))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "pickers[0]");
    let enrol = json!({ "device": "hh-1", "role": "picker", "location": "wh-1" });
    assert_eq!(f.call("POST", "/api/devices", &[], Some(enrol)).await.0, StatusCode::CREATED);
    let (status, body) = f
        .call(
            "POST",
            "/api/locations/wh-1/picklists",
            &[],
            Some(json!({ "pickers": ["hh-1"], "batch_size": 0 })),
        )
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "batch_size");
    let (status, lists) =
        f.call("POST", "/api/locations/wh-1/picklists", &[], Some(json!({ "pickers": ["hh-1"] }))).await;
    assert_eq!(status, StatusCode::OK, "{lists}");
    assert_eq!(lists[0]["picker"], "hh-1");
    assert_eq!(lists[0]["orders"], json!(["SO-1", "SO-2"]));
    assert_eq!(lists[0]["picks"][0]["bin"], "A-01");
    assert_eq!(lists[0]["picks"][0]["quantity"], 5);
    let (_, view) = f.call("GET", "/api/orders/SO-2", &[], None).await;
    assert_eq!(view["pickers"], json!([{ "device": "hh-1", "location": "wh-1" }]));

    // Routes need enrolled drivers; nothing is packed yet, so none are made.
    let route = |drivers: Value| Some(json!({ "drivers": drivers, "date": "2026-11-25" }));
    let (status, body) = f.call("POST", "/api/locations/wh-1/routes", &[], route(json!([]))).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "drivers");
    let ghost = json!([{ "device": "drv-1", "van": "V-1" }]);
    let (status, body) = f.call("POST", "/api/locations/wh-1/routes", &[], route(ghost.clone())).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "drivers[0].device");
    // A shift that ends before it starts, a van that holds nothing: named.
    let night = json!([{ "device": "drv-1", "van": "V-1", "shift": { "start": "18:00", "end": "08:00" } }]);
    let (status, body) = f.call("POST", "/api/locations/wh-1/routes", &[], route(night)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "drivers[0].shift.end");
    let empty = json!([{ "device": "drv-1", "van": "V-1", "capacity": { "weight_kg": 0 } }]);
    let (status, body) = f.call("POST", "/api/locations/wh-1/routes", &[], route(empty)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "drivers[0].capacity.weight_kg");
    let enrol = json!({ "device": "drv-1", "role": "driver" });
    assert_eq!(f.call("POST", "/api/devices", &[], Some(enrol)).await.0, StatusCode::CREATED);
    let (status, made) = f.call("POST", "/api/locations/wh-1/routes", &[], route(ghost)).await;
    assert_eq!((status, made), (StatusCode::CREATED, json!({ "routes": [], "unassigned": [] })));

    let (status, m) = f.call("GET", "/api/metrics", &[], None).await;
    assert_eq!((status, &m["orders"], &m["delivered"]), (StatusCode::OK, &json!(2), &json!(0)));
    let (status, doc) = f.call("GET", "/api/orders/SO-1/epcis", &[], None).await;
    assert_eq!((status, &doc["type"]), (StatusCode::OK, &json!("EPCISDocument")));
    let (status, body) = f.call("GET", "/api/blobs/not-a-hash", &[], None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "hash");
    let (status, body) = f.call("GET", &format!("/api/blobs/sha256:{}", "ab".repeat(32)), &[], None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "hash");
    // A stored proof is served whole, as it is.
    let blob = b"\x89PNG\r\n\x1a\n a photo at the door".to_vec();
    let hash = waybill_shared::blob::BlobHash::of(&blob);
    f.shared.blobs.truncate(&hash, 0).await.unwrap();
    f.shared.blobs.append(&hash, 0, &blob).await.unwrap();
    f.shared.blobs.complete(&hash, blob.clone()).await.unwrap();
    let req = Request::builder()
        .uri(format!("/api/blobs/{hash}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .unwrap();
    let res = f.app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap(), blob);
}

#[tokio::test]
async fn quotas_are_granted_out_of_free_stock_and_listed_per_device() {
    let f = start().await;
    const G: &str = "09506000134352";
    let location = json!({
        "id": "wh-1", "name": "Depot", "bins": [{ "id": "VAN", "walk": 1 }],
        "opening": [{ "bin": "VAN", "gtin": G, "quantity": 5 }]
    });
    let (status, body) = f.call("POST", "/api/locations", &[], Some(location)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (device, role) in [("van-1", "driver"), ("van-2", "driver"), ("pk-1", "packer")] {
        let enrol = json!({ "device": device, "role": role, "location": "wh-1" });
        let (status, body) = f.call("POST", "/api/devices", &[], Some(enrol)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let grant =
        |device: &str, quantity: u32| Some(json!({ "device": device, "gtin": G, "quantity": quantity }));
    let url = "/api/locations/wh-1/quotas/grant";
    // More than is free, nothing, a packer, a stranger: refused, naming the field.
    let (status, body) = f.call("POST", url, &[], grant("van-1", 6)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "quantity");
    assert!(body["error"].as_str().unwrap().contains("only 5 unit(s)"), "{body}");
    let (status, body) = f.call("POST", url, &[], grant("van-1", 0)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "quantity");
    let (status, body) = f.call("POST", url, &[], grant("pk-1", 1)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "device");
    let (status, body) = f.call("POST", url, &[], grant("nobody", 1)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "device");
    let (status, body) = f.call("POST", "/api/locations/nowhere/quotas/grant", &[], grant("van-1", 1)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "location");

    let (status, body) = f.call("POST", url, &[], grant("van-1", 3)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["event"]["payload"]["type"], "quota_granted");
    // 3 of 5 are held: 2 are free.
    let (status, body) = f.call("POST", url, &[], grant("van-2", 3)).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "quantity");

    // Targets are per role: packers promise nothing offline.
    let target = Some(json!({ "gtin": G, "target": 4, "role": "packer" }));
    let (status, body) = f.call("POST", "/api/locations/wh-1/quotas", &[], target).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "role");
    // A target of 4 for drivers: nobody connected, so no grant yet.
    let target = Some(json!({ "gtin": G, "target": 4 }));
    let (status, body) = f.call("POST", "/api/locations/wh-1/quotas", &[], target).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["granted"], json!([]));
    // van-2 connects: it gets what is free (2), van-1 its missing 1 only if
    // any is left (none is).
    let device = |id: &str| crate::scope::Device {
        id: id.into(),
        role: waybill_shared::role::Role::Driver,
        location: Some("wh-1".into()),
    };
    // A picker at the location gets nothing, though 2 are free: the target
    // is the drivers'.
    let picker = crate::scope::Device { role: waybill_shared::role::Role::Picker, ..device("hh-1") };
    assert_eq!(crate::quota::top_up(&f.shared, &picker).await.unwrap(), vec![]);
    let granted = crate::quota::top_up(&f.shared, &device("van-2")).await.unwrap();
    assert_eq!(granted, vec![(G.parse().unwrap(), 2)]);
    let granted = crate::quota::top_up(&f.shared, &device("van-1")).await.unwrap();
    assert_eq!(granted, vec![]);

    let (status, list) = f.call("GET", "/api/quotas", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        list,
        json!([
            { "location": "wh-1", "device": "van-1", "gtin": G, "target": 4, "granted": 3, "sold": 0, "released": 0, "remaining": 3 },
            { "location": "wh-1", "device": "van-2", "gtin": G, "target": 4, "granted": 2, "sold": 0, "released": 0, "remaining": 2 },
        ])
    );
    // The drivers enrolled at the location hold its stock document.
    let docs = crate::scope::scope(&f.shared.storage, &device("van-1"), false).await.unwrap();
    assert!(docs.contains(&"location/wh-1/0".parse().unwrap()), "{docs:?}");
}
