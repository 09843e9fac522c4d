//! Roles, route by route: each role is refused (403, naming who may) what
//! it may not do and let through to what it may; a warehouse lead only at
//! its locations; every mounted route is in the permission table; and
//! what was done (and refused) is in the audit log, newest first, paged.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Fixture, order, start};
use crate::http::access::{Permission, RULES};
use crate::users::UserRole;

/// The roles' users in these tests, by the letter the expectations use.
const USERS: [(char, &str, UserRole); 4] = [
    ('A', "ada", UserRole::Admin),
    ('D', "dan", UserRole::Dispatcher),
    ('L', "lee", UserRole::WarehouseLead),
    ('V', "vic", UserRole::Viewer),
];

impl Fixture {
    /// Adds `name` with `role` (a warehouse lead at wh-1) and signs in: the
    /// `Cookie` header to send.
    async fn session_as(&self, name: &str, role: UserRole) -> String {
        let at: Vec<String> = if role.is_scoped() { vec!["wh-1".into()] } else { vec![] };
        crate::users::add_as(&self.shared.storage, name, "correct horse", role, &at, chrono::Utc::now())
            .await
            .unwrap();
        let (status, _, cookie) = self
            .send("POST", "/api/session", None, Some(json!({ "user": name, "password": "correct horse" })))
            .await;
        assert_eq!(status, StatusCode::OK);
        cookie.unwrap()
    }

    /// Calls the API with `cookie` (if any): status, JSON body (Null for
    /// none, and for an event stream, which is not read), and the session
    /// cookie set, if one was.
    async fn send(
        &self,
        method: &str,
        uri: &str,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value, Option<String>) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        if uri.ends_with("/orders") && method == "POST" {
            req = req.header("idempotency-key", "roles-1");
        }
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let set = res
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        if res.headers().get("content-type").is_some_and(|v| v == "text/event-stream") {
            return (status, Value::Null, set);
        }
        let bytes = axum::body::to_bytes(res.into_body(), 16 << 20).await.unwrap();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        super::contract::check(method, uri, status, &v);
        (status, v, set)
    }
}

/// Every route, with a request to make of it, and the roles (by letter)
/// that may: written out here, not read from the table, so a wrong entry
/// in the table fails.
fn expectations() -> Vec<(&'static str, &'static str, Option<Value>, &'static str)> {
    let receipt = json!({ "bin": "A-01", "gtin": "09506000134352", "quantity": 3 });
    let location = json!({ "id": "wh-3", "name": "Third", "bins": [{ "id": "A-01", "walk": 1 }] });
    vec![
        ("GET", "/api/orders", None, "ADLV"),
        ("POST", "/api/orders", Some(order("SO-9")), "AD"),
        ("GET", "/api/orders/SO-1", None, "ADLV"),
        ("GET", "/api/orders/SO-1/epcis", None, "ADLV"),
        ("POST", "/api/orders/SO-1/hold", Some(json!({ "reason": "check" })), "AD"),
        ("POST", "/api/orders/SO-1/release", None, "AD"),
        ("POST", "/api/orders/SO-1/address", Some(json!({ "ship_to": { "name": "x" } })), "AD"),
        ("POST", "/api/orders/SO-1/cancel", Some(json!({ "reason": "" })), "AD"),
        ("POST", "/api/orders/import", None, "AD"),
        ("POST", "/api/orders/SO-1/payment", Some(json!({})), "AD"),
        ("POST", "/api/orders/SO-1/tracking/revoke", None, "AD"),
        ("POST", "/api/orders/SO-1/returns", Some(json!({})), "AD"),
        ("POST", "/api/orders/SO-1/refund", Some(json!({})), "AD"),
        ("POST", "/api/routes/R-1/cash", Some(json!({})), "AD"),
        ("POST", "/api/routes/R-1/stops", Some(json!({ "order": "SO-1" })), "AD"),
        ("GET", "/api/cash", None, "ADLV"),
        ("GET", "/api/exceptions", None, "ADLV"),
        ("POST", "/api/exceptions/resolve", Some(json!({ "doc": "location/wh-1/0" })), "ADL"),
        ("GET", "/api/devices", None, "ADLV"),
        ("POST", "/api/devices", Some(json!({ "device": "hh-9", "role": "driver" })), "A"),
        ("POST", "/api/devices/hh-9/revoke", None, "A"),
        ("GET", "/api/stock", None, "ADLV"),
        ("GET", "/api/locations", None, "ADLV"),
        ("POST", "/api/locations", Some(location), "A"),
        ("POST", "/api/locations/wh-1/receipts", Some(receipt), "AL"),
        ("POST", "/api/locations/wh-1/picklists", Some(json!({ "pickers": [] })), "AL"),
        ("POST", "/api/locations/wh-1/routes", Some(json!({ "drivers": [], "date": "2030-01-01" })), "AD"),
        ("GET", "/api/locations/wh-1/epcis", None, "ADLV"),
        ("POST", "/api/locations/wh-1/quotas", Some(json!({ "gtin": "09506000134352", "target": 0 })), "AL"),
        ("POST", "/api/locations/wh-1/quotas/grant", Some(json!({ "device": "hh-9" })), "AL"),
        ("GET", "/api/quotas", None, "ADLV"),
        ("POST", "/api/allocate", Some(json!({ "orders": [] })), "AD"),
        ("GET", "/api/routes", None, "ADLV"),
        ("GET", "/api/map", None, "ADLV"),
        ("GET", "/api/metrics", None, "ADLV"),
        ("GET", "/api/blobs/ab", None, "ADLV"),
        ("GET", "/api/events", None, "ADLV"),
        ("GET", "/api/session", None, "ADLV"),
        ("GET", "/api/webhooks", None, "A"),
        ("POST", "/api/webhooks", Some(json!({ "url": "http://127.0.0.1:9/hook" })), "A"),
        ("DELETE", "/api/webhooks/1", None, "A"),
        ("GET", "/api/audit", None, "AV"),
        // Signing in and out: anyone (tested on their own below).
        ("POST", "/api/session", None, "ADLV"),
        ("DELETE", "/api/session", None, "ADLV"),
    ]
}

/// The route an expectation's path is an instance of.
fn route_of(path: &str) -> String {
    let path = path.strip_prefix("/api").unwrap();
    RULES
        .iter()
        .map(|r| r.path)
        .find(|route| {
            let (a, b): (Vec<&str>, Vec<&str>) = (route.split('/').collect(), path.split('/').collect());
            a.len() == b.len() && a.iter().zip(&b).all(|(r, p)| r == p || r.starts_with('{'))
        })
        .unwrap_or_else(|| panic!("{path} is no route in the table"))
        .to_owned()
}

async fn world() -> (Fixture, Vec<(char, String)>) {
    let f = start().await;
    for id in ["wh-1", "wh-2"] {
        let location = json!({
            "id": id, "name": id, "bins": [{ "id": "A-01", "walk": 1 }],
            "opening": [{ "bin": "A-01", "gtin": "09506000134352", "quantity": 5 }]
        });
        assert_eq!(f.call("POST", "/api/locations", &[], Some(location)).await.0, StatusCode::CREATED);
    }
    assert_eq!(f.create("k-1", order("SO-1")).await.0, StatusCode::CREATED);
    let mut elsewhere = order("SO-2");
    elsewhere["location"] = json!("wh-2");
    assert_eq!(f.create("k-2", elsewhere).await.0, StatusCode::CREATED);
    let mut sessions = Vec::new();
    for (letter, name, role) in USERS {
        sessions.push((letter, f.session_as(name, role).await));
    }
    (f, sessions)
}

#[tokio::test]
async fn each_role_is_refused_what_it_may_not_do_route_by_route() {
    let (f, sessions) = world().await;
    let cases = expectations();
    // Every route in the table has an expectation here, and no other.
    for r in RULES {
        assert!(
            cases.iter().any(|(m, p, _, _)| *m == r.method && route_of(p) == r.path),
            "no expectation for {} {}",
            r.method,
            r.path
        );
    }
    assert_eq!(cases.len(), RULES.len());

    for (method, path, body, allowed) in &cases {
        if path.ends_with("/session") && *method != "GET" {
            continue;
        }
        for (letter, cookie) in &sessions {
            let (status, answer, _) = f.send(method, path, Some(cookie), body.clone()).await;
            let case = format!("{letter} {method} {path}: {status} {answer}");
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{case}");
            if allowed.contains(*letter) {
                assert_ne!(status, StatusCode::FORBIDDEN, "{case}");
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{case}");
                // It says who may: each allowed role by name, after what
                // was refused ("... may not hold an order: an admin or a
                // dispatcher may (POST /api/orders/{id}/hold)").
                let error = answer["error"].as_str().unwrap();
                let (_, who) = error.split_once(" may not ").unwrap().1.split_once(": ").unwrap();
                for (l, _, role) in USERS {
                    assert_eq!(who.contains(role.as_str()), allowed.contains(l), "{case}");
                }
            }
        }
    }
}

#[tokio::test]
async fn a_warehouse_lead_works_only_at_its_locations() {
    let (f, sessions) = world().await;
    let lee = &sessions[2].1;
    let receipt = json!({ "bin": "A-01", "gtin": "09506000134352", "quantity": 3 });

    // At wh-1: allowed, and done; at wh-2: refused, naming the location.
    let (status, body, _) =
        f.send("POST", "/api/locations/wh-1/receipts", Some(lee), Some(receipt.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for route in ["receipts", "picklists", "quotas", "quotas/grant"] {
        let path = format!("/api/locations/wh-2/{route}");
        let (status, body, _) = f.send("POST", &path, Some(lee), Some(receipt.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert_eq!(body["field"], "id", "{body}");
        assert!(body["error"].as_str().unwrap().contains("wh-2"), "{body}");
    }
    // An admin may, anywhere.
    let ada = &sessions[0].1;
    let (status, body, _) = f.send("POST", "/api/locations/wh-2/receipts", Some(ada), Some(receipt)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Lists bound to a location show the lead only theirs.
    let (_, stock, _) = f.send("GET", "/api/stock", Some(lee), None).await;
    let at: Vec<&str> = stock.as_array().unwrap().iter().map(|r| r["location"].as_str().unwrap()).collect();
    assert!(!at.is_empty() && at.iter().all(|l| *l == "wh-1"), "{stock}");
    let (_, all, _) = f.send("GET", "/api/stock", Some(ada), None).await;
    assert!(all.as_array().unwrap().iter().any(|r| r["location"] == "wh-2"), "{all}");

    // Resolving: a document at another location is refused before anything
    // is written; one of theirs gets past the permission check.
    let resolve = |doc: &str| json!({ "doc": doc, "exception": "low_rating", "events": ["office:1"], "decision": "accept" });
    let (status, body, _) =
        f.send("POST", "/api/exceptions/resolve", Some(lee), Some(resolve("location/wh-2/0"))).await;
    assert_eq!((status, &body["field"]), (StatusCode::FORBIDDEN, &json!("doc")), "{body}");
    let (status, body, _) =
        f.send("POST", "/api/exceptions/resolve", Some(lee), Some(resolve("order/SO-2"))).await;
    assert_eq!((status, &body["field"]), (StatusCode::FORBIDDEN, &json!("doc")), "SO-2 is at wh-2: {body}");
    for doc in ["order/SO-1", "location/wh-1/0"] {
        let (status, body, _) =
            f.send("POST", "/api/exceptions/resolve", Some(lee), Some(resolve(doc))).await;
        assert_eq!(status, StatusCode::OK, "{doc}: {body}");
    }
    let dan = &sessions[1].1;
    let (status, body, _) =
        f.send("POST", "/api/exceptions/resolve", Some(dan), Some(resolve("location/wh-2/0"))).await;
    assert_eq!(status, StatusCode::OK, "a dispatcher resolves anywhere: {body}");
}

#[tokio::test]
async fn the_session_says_the_role_and_what_it_may_do() {
    let (f, sessions) = world().await;
    let (_, me, _) = f.send("GET", "/api/session", Some(&sessions[2].1), None).await;
    assert_eq!(
        me,
        json!({ "user": "lee", "role": "warehouse_lead", "locations": ["wh-1"], "may": ["anyone", "exceptions", "warehouse"] })
    );
    let (_, me, _) = f.send("GET", "/api/session", Some(&sessions[3].1), None).await;
    assert_eq!((&me["role"], &me["may"]), (&json!("viewer"), &json!(["anyone", "audit"])));
    // A role changed is in force at the next request, in the same session.
    crate::users::set_role(&f.shared.storage, "vic", UserRole::Dispatcher, &[]).await.unwrap();
    let (_, me, _) = f.send("GET", "/api/session", Some(&sessions[3].1), None).await;
    assert_eq!(me["role"], "dispatcher");
    let (status, body, _) =
        f.send("POST", "/api/orders/SO-1/hold", Some(&sessions[3].1), Some(json!({ "reason": "r" }))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The service token is an admin.
    let (_, me) = f.call("GET", "/api/session", &[], None).await;
    assert_eq!((&me["user"], &me["role"]), (&json!("api"), &json!("admin")));
    // Anyone signs out.
    for (_, cookie) in &sessions[..3] {
        assert_eq!(f.send("DELETE", "/api/session", Some(cookie), None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(f.send("GET", "/api/orders", Some(cookie), None).await.0, StatusCode::UNAUTHORIZED);
    }
}

/// The routes mounted under `/api`: the router mounts each through its
/// description, so the description lists them.
fn mounted() -> Vec<(String, String)> {
    let doc = crate::http::description();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(path) = path.strip_prefix("/api") else { continue };
        for method in item.as_object().unwrap().keys() {
            out.push((method.to_uppercase(), path.to_owned()));
        }
    }
    out
}

#[tokio::test]
async fn every_mounted_route_is_in_the_table_and_others_are_refused_but_to_admins() {
    let routes = mounted();
    assert!(routes.len() >= 30, "{routes:?}");
    for (method, path) in &routes {
        assert!(
            RULES.iter().any(|r| r.method == method && r.path == path),
            "{method} {path} is mounted but not in the permission table (http/access.rs)"
        );
    }
    for r in RULES {
        assert!(
            routes.iter().any(|(m, p)| m == r.method && p == r.path),
            "{} {} is in the table but not mounted",
            r.method,
            r.path
        );
    }
    // A method a route does not take is no entry in the table: refused to
    // all but an admin, who hears it is not taken.
    let (f, sessions) = world().await;
    for (letter, cookie) in &sessions {
        let (status, body, _) = f.send("PUT", "/api/orders/SO-1", Some(cookie), None).await;
        let want = if *letter == 'A' { StatusCode::METHOD_NOT_ALLOWED } else { StatusCode::FORBIDDEN };
        assert_eq!(status, want, "{letter}: {body}");
    }
    assert!(Permission::ALL.iter().all(|p| p.allows(UserRole::Admin)));

    // The OpenAPI document says who may call what, from the same table.
    let doc = crate::http::description();
    for r in RULES.iter().filter(|r| r.permission != Permission::Anyone) {
        let op = &doc["paths"][format!("/api{}", r.path)][r.method.to_ascii_lowercase()];
        assert!(op["responses"]["403"].is_object(), "{} {}: {op}", r.method, r.path);
        let roles: Vec<&str> =
            op["x-roles"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert!(roles.contains(&"admin"), "{} {}", r.method, r.path);
    }
    let hold = &doc["paths"]["/api/orders/{id}/hold"]["post"];
    assert_eq!(hold["x-roles"], json!(["admin", "dispatcher"]));
}

#[tokio::test]
async fn the_audit_log_lists_who_did_what_newest_first_a_page_at_a_time() {
    let (f, sessions) = world().await;
    let (ada, dan, vic) = (&sessions[0].1, &sessions[1].1, &sessions[3].1);
    let hold = Some(json!({ "reason": "fraud check" }));
    assert_eq!(f.send("POST", "/api/orders/SO-1/hold", Some(dan), hold.clone()).await.0, StatusCode::OK);
    assert_eq!(f.send("POST", "/api/orders/SO-1/hold", Some(vic), hold).await.0, StatusCode::FORBIDDEN);
    assert_eq!(f.send("POST", "/api/orders/SO-1/release", Some(dan), None).await.0, StatusCode::OK);
    // Reads are not written down.
    assert_eq!(f.send("GET", "/api/orders", Some(dan), None).await.0, StatusCode::OK);

    let (status, page, _) = f.send("GET", "/api/audit", Some(vic), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let entries = page["entries"].as_array().unwrap();
    let said: Vec<(&str, &str, &str, Option<u64>)> = entries
        .iter()
        .take(3)
        .map(|e| {
            (
                e["user"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["request"].as_str().unwrap(),
                e["status"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        said,
        [
            ("dan", "release an order", "POST /api/orders/SO-1/release", Some(200)),
            ("vic", "hold an order", "POST /api/orders/SO-1/hold", Some(403)),
            ("dan", "hold an order", "POST /api/orders/SO-1/hold", Some(200)),
        ]
    );
    assert_eq!(entries[0]["role"], "dispatcher");
    assert!(entries[0]["at"].as_str().unwrap().starts_with("20"), "{page}");
    // Signing in is written down; so is the service token's work, as api.
    let signed_in: Vec<&str> =
        entries.iter().filter(|e| e["action"] == "sign in").map(|e| e["user"].as_str().unwrap()).collect();
    assert_eq!(signed_in, ["vic", "lee", "dan", "ada"]);
    assert!(entries.iter().any(|e| e["user"] == "api" && e["action"] == "create an order"));
    assert!(!entries.iter().any(|e| e["request"].as_str().unwrap().starts_with("GET")));
    assert_eq!(page["next"], Value::Null, "all on one page");

    // Pages: newest first, each older than the last, none repeated.
    let mut seen: Vec<i64> = Vec::new();
    let mut before = None;
    loop {
        let uri = match before {
            Some(b) => format!("/api/audit?limit=2&before={b}"),
            None => "/api/audit?limit=2".to_owned(),
        };
        let (status, page, _) = f.send("GET", &uri, Some(ada), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let ids: Vec<i64> =
            page["entries"].as_array().unwrap().iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert!(ids.len() <= 2);
        seen.extend(ids);
        match page["next"].as_i64() {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    let all: Vec<i64> = entries.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert_eq!(seen, all);
    assert!(all.windows(2).all(|w| w[0] > w[1]), "{all:?}");

    // Only admins and viewers read it; a bad limit is named.
    let (status, body, _) = f.send("GET", "/api/audit", Some(dan), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body, _) = f.send("GET", "/api/audit?limit=0", Some(ada), None).await;
    assert_eq!((status, &body["field"]), (StatusCode::BAD_REQUEST, &json!("limit")), "{body}");
}
