//! The orders list paged, searched and filtered on the server: every page
//! boundary, the `Waybill-Next` and `Waybill-Total` headers, `q`, `status`
//! and both; the metrics from their projection; and `GET /metrics` in
//! Prometheus's text format, signed in like the API.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use super::{Fixture, TOKEN, assert_error, start};

/// Orders in the fixture: ids `SO-00000` to `SO-00249`; every fifth for
/// "Ada Lovelace", the rest for "grace Hopper" (lower case, so a search
/// in capitals must fold case).
const ORDERS: usize = 250;

impl Fixture {
    /// Imports the orders, at location wh-1.
    async fn many_orders(&self) {
        let orders: Vec<Value> = (0..ORDERS)
            .map(|i| {
                let customer = if i % 5 == 0 { "Ada Lovelace" } else { "grace Hopper" };
                json!({
                    "id": format!("SO-{i:05}"), "customer": customer,
                    "ship_to": { "name": customer, "line1": format!("{i} Main St"), "city": "Town", "postcode": "1000", "country": "GB" },
                    "lines": [{ "line": 1, "gtin": "09506000134352", "description": "Gear", "quantity": 1 }],
                    "location": "wh-1", "created_at": "2026-11-23T08:00:00Z"
                })
            })
            .collect();
        let location =
            json!({ "id": "wh-1", "name": "W", "bins": [{ "id": "A-01", "walk": 1 }], "epoch": 0 });
        let seed = serde_json::from_value(json!({ "locations": [location], "orders": orders })).unwrap();
        crate::office::import(&self.shared, &seed).await.unwrap();
    }

    /// `GET uri` with the service token: status, body text, and the
    /// response headers asked for.
    async fn get_text(
        &self,
        uri: &str,
        auth: Option<&str>,
    ) -> (StatusCode, String, BTreeMap<String, String>) {
        let mut req = Request::get(uri);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let res = self.app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned()))
            .collect();
        let bytes = axum::body::to_bytes(res.into_body(), 16 << 20).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            super::contract::check("GET", uri, status, &v);
        }
        (status, text, headers)
    }

    /// One page of `GET /api/orders?<query>`: ids, `Waybill-Next`, `Waybill-Total`.
    async fn page(&self, query: &str) -> (Vec<String>, Option<String>, u64) {
        let bearer = format!("Bearer {TOKEN}");
        let (status, body, headers) = self.get_text(&format!("/api/orders?{query}"), Some(&bearer)).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
        let ids = rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        let total = headers["waybill-total"].parse().unwrap();
        (ids, headers.get("waybill-next").cloned(), total)
    }

    /// Every page of `query`, following `Waybill-Next`: the ids of each.
    async fn all_pages(&self, query: &str) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let q = match &after {
                Some(a) => format!("{query}&after={a}"),
                None => query.to_owned(),
            };
            let (ids, next, _) = self.page(&q).await;
            // The cursor is the page's last id.
            assert_eq!(next.as_ref(), ids.last().filter(|_| next.is_some()), "{q}");
            pages.push(ids);
            match next {
                Some(n) => after = Some(n),
                None => return pages,
            }
            assert!(pages.len() < 100, "{query}: paging does not end");
        }
    }
}

fn ids(range: impl Iterator<Item = usize>) -> Vec<String> {
    range.map(|i| format!("SO-{i:05}")).collect()
}

#[tokio::test]
async fn orders_are_paged_by_id_with_a_cursor_and_a_total() {
    let f = start().await;
    f.many_orders().await;
    // The default page is 100: two full pages and a part.
    let pages = f.all_pages("").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
    assert_eq!(pages.concat(), ids(0..ORDERS), "every order once, by id");
    let (first, next, total) = f.page("").await;
    assert_eq!((first.len(), next.as_deref(), total), (100, Some("SO-00099"), 250));
    let (later, _, total) = f.page("after=SO-00199").await;
    assert_eq!((later, total), (ids(200..250), 250), "a later page still counts every order");

    // A page size that divides the orders exactly: the last full page has
    // no next (nothing is left for it to lead to).
    assert_eq!(f.all_pages("limit=125").await.iter().map(Vec::len).collect::<Vec<_>>(), [125, 125]);
    assert_eq!(f.page("limit=250").await.1, None);
    assert_eq!(f.page("limit=249").await.1.as_deref(), Some("SO-00248"));
    assert_eq!(f.page("limit=1&after=SO-00248").await, (ids(249..250), None, 250));
    assert_eq!(f.page("after=SO-00249").await, (vec![], None, 250), "past the end: empty, no next");
    // `after` need not be a stored id: it is a place in the order of ids.
    assert_eq!(f.page("limit=2&after=SO-00010x").await.0, ids(11..13));

    for bad in ["limit=0", "limit=1001", "limit=ten"] {
        let (status, body) = f.call("GET", &format!("/api/orders?{bad}"), &[], None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, body) = f.call("GET", "/api/orders?limit=0", &[], None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "limit");
    let (status, body) = f.call("GET", "/api/orders?page=2", &[], None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an unknown parameter is refused: {body}");
}

#[tokio::test]
async fn orders_are_searched_by_id_or_customer_prefix_and_filtered_by_status() {
    let f = start().await;
    f.many_orders().await;
    // A customer's name, from its start, in any case.
    for q in ["ada", "ADA%20LOVE", "Ada%20Lovelace"] {
        let pages = f.all_pages(&format!("q={q}&limit=20")).await;
        assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [20, 20, 10], "{q}");
        assert_eq!(pages.concat(), ids((0..ORDERS).step_by(5)), "{q}");
        assert_eq!(f.page(&format!("q={q}&limit=20")).await.2, 50, "{q}: the total counts the matches");
    }
    assert_eq!(f.page("q=GRACE").await.2, 200);
    assert_eq!(f.page("q=Lovelace").await.2, 0, "a prefix of the name, not any part of it");
    // An order id, from its start, as typed or in small letters.
    for q in ["SO-0001", "so-0001"] {
        let (found, next, total) = f.page(&format!("q={q}")).await;
        assert_eq!((found, next, total), (ids(10..20), None, 10), "{q}");
    }
    assert_eq!(f.page("q=SO-00123").await.0, ids(123..124));
    assert_eq!(f.page("q=%20%20").await.2, 250, "a blank search is none");

    // Status: one order held.
    let (status, _) =
        f.call("POST", "/api/orders/SO-00010/hold", &[], Some(json!({ "reason": "check" }))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(f.page("status=held").await, (ids(10..11), None, 1));
    let (others, _, total) = f.page("status=created&limit=1000").await;
    assert_eq!((others.len(), total), (249, 249));
    assert!(!others.contains(&"SO-00010".to_owned()));
    // Both: a held order of Ada's, none of Grace's.
    assert_eq!(f.page("status=held&q=ada").await, (ids(10..11), None, 1));
    assert_eq!(f.page("status=held&q=grace").await, (vec![], None, 0));
    assert_eq!(f.page("status=created&q=so-0001").await.0, ids(11..20));
    let (status, body) = f.call("GET", "/api/orders?status=lost", &[], None).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "status");
}

/// Each sample line of Prometheus text: name, labels, value; checked to be
/// `name{k="v",...} value` with a valid name and a number.
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("# HELP ") || line.starts_with("# TYPE ") {
            continue;
        }
        assert!(!line.is_empty() && !line.starts_with('#'), "not a sample: {line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                (n, rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line:?}")))
            }
            None => (series, ""),
        };
        assert!(
            name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad name: {line:?}"
        );
        let labels = labels
            .split(',')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("bad label: {line:?}"));
                let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"'));
                (k.to_owned(), v.unwrap_or_else(|| panic!("unquoted label: {line:?}")).to_owned())
            })
            .collect();
        out.push((name.to_owned(), labels, value));
    }
    out
}

#[tokio::test]
async fn prometheus_text_is_served_to_the_signed_in_with_orders_queues_and_counters() {
    let f = start().await;
    f.many_orders().await;
    f.call("POST", "/api/orders/SO-00003/hold", &[], Some(json!({ "reason": "check" }))).await;
    for auth in [None, Some("Bearer wrong")] {
        let (status, _, headers) = f.get_text("/metrics", auth).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(headers["www-authenticate"], "Bearer");
    }
    let bearer = format!("Bearer {TOKEN}");
    let (status, text, headers) = f.get_text("/metrics", Some(&bearer)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(headers["content-type"].starts_with("text/plain; version=0.0.4"), "{headers:?}");
    let all = samples(&text);
    let value = |name: &str, label: Option<(&str, &str)>| {
        all.iter()
            .find(|(n, l, _)| n == name && label.is_none_or(|(k, v)| l.get(k).is_some_and(|x| x == v)))
            .map(|s| s.2)
    };
    for name in [
        "waybill_sync_sessions_total",
        "waybill_sync_sessions_open",
        "waybill_document_streams_total",
        "waybill_changes_stored_total",
        "waybill_refusals_total",
        "waybill_push_seconds_bucket",
        "waybill_push_seconds_sum",
        "waybill_push_seconds_count",
        "waybill_orders",
        "waybill_outbox_depth",
        "waybill_outbox_failed",
        "waybill_quarantined_changes",
    ] {
        assert!(value(name, None).is_some(), "{name} missing:\n{text}");
        if !name.starts_with("waybill_push_seconds_") && !name.starts_with("waybill_orders") {
            assert!(text.contains(&format!("# TYPE {name} ")), "{name} has no type:\n{text}");
        }
    }
    assert!(text.contains("# TYPE waybill_push_seconds histogram"));
    assert_eq!(value("waybill_orders", Some(("status", "held"))), Some(1.0));
    assert_eq!(value("waybill_orders", Some(("status", "created"))), Some(249.0));
    let orders: f64 = all.iter().filter(|s| s.0 == "waybill_orders").map(|s| s.2).sum();
    assert_eq!(orders, ORDERS as f64);
    assert_eq!(value("waybill_outbox_depth", Some(("queue", "webhooks"))), Some(0.0));
    assert_eq!(
        value("waybill_push_seconds_bucket", Some(("le", "+Inf"))),
        value("waybill_push_seconds_count", None)
    );
    // An office session may read it too (the page's users are operators' colleagues).
    let cookie = f.session("ops").await;
    let req = Request::get("/metrics").header("cookie", cookie).body(Body::empty()).unwrap();
    assert_eq!(f.app.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);

    // The office's metrics come from the projection: every order counted.
    let (status, m) = f.call("GET", "/api/metrics", &[], None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((m["orders"].as_u64(), m["delivered"].as_u64()), (Some(250), Some(0)));
    assert_eq!(m["order_accuracy"], Value::Null);
}
