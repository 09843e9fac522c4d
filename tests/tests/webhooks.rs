#![allow(clippy::unwrap_used)]
//! Customer webhooks across a server crash. A receiver on 127.0.0.1 records
//! what it acknowledged. Orders made while it is up are delivered; then it
//! goes down (503), more orders are made, the server retries, and is killed
//! (SIGKILL) with those still queued. After a restart on the same data
//! directory the receiver comes back: every notification arrives, none that
//! was acknowledged is sent again, and every one carries a valid signature.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use waybill_tests::{Server, api, free_port, free_tcp_port};

/// What the receiver saw.
#[derive(Default)]
struct Receiver {
    /// Acknowledged deliveries: key, body, signature header.
    acked: Mutex<Vec<(String, String, String)>>,
    /// Requests refused while down.
    refused: AtomicUsize,
    up: AtomicBool,
}

/// A minimal HTTP/1.1 receiver: one request per connection.
fn receive(listener: TcpListener, r: Arc<Receiver>) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut headers = BTreeMap::new();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let Some((k, v)) = line.trim_end().split_once(": ") else { break };
            headers.insert(k.to_ascii_lowercase(), v.to_owned());
        }
        let len: usize = headers.get("content-length").map_or(0, |l| l.parse().unwrap());
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let status = if r.up.load(Ordering::SeqCst) {
            r.acked.lock().unwrap().push((
                headers["waybill-delivery"].clone(),
                String::from_utf8(body).unwrap(),
                headers["waybill-signature"].clone(),
            ));
            "200 OK"
        } else {
            r.refused.fetch_add(1, Ordering::SeqCst);
            "503 Service Unavailable"
        };
        let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    }
}

fn order(id: &str) -> Value {
    json!({
        "id": id, "customer": "Ada Lovelace",
        "ship_to": { "name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London", "postcode": "SW1Y 4JH", "country": "GB" },
        "lines": [{ "line": 1, "gtin": "09506000134352", "description": "Brass gear", "quantity": 2 }]
    })
}

fn create(http: u16, id: &str) {
    let client = reqwest::blocking::Client::new();
    let res = client
        .post(format!("http://127.0.0.1:{http}/api/orders"))
        .bearer_auth(waybill_tests::OFFICE_TOKEN)
        .header("Idempotency-Key", id)
        .json(&order(id))
        .send()
        .unwrap();
    assert_eq!(res.status().as_u16(), 201, "{}", res.text().unwrap());
}

fn wait_for(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn verify(secret: &str, body: &str, signature: &str) -> bool {
    let Some((t, v1)) = signature.strip_prefix("t=").and_then(|s| s.split_once(",v1=")) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag: Vec<u8> =
        (0..v1.len() / 2).filter_map(|i| u8::from_str_radix(&v1[2 * i..2 * i + 2], 16).ok()).collect();
    ring::hmac::verify(&key, format!("{t}.{body}").as_bytes(), &tag).is_ok()
}

#[test]
fn notifications_survive_a_crash_and_none_acknowledged_is_sent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (port, http) = (free_port(), free_tcp_port());
    let mut server = Server::start_with(dir.path(), port, Some(http));

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/waybill", listener.local_addr().unwrap());
    let receiver = Arc::new(Receiver::default());
    receiver.up.store(true, Ordering::SeqCst);
    let r = receiver.clone();
    std::thread::spawn(move || receive(listener, r));
    let (status, hook) = api(http, "POST", "/api/webhooks", Some(&json!({ "url": url })));
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();

    // Up: delivered at once.
    for id in ["SO-1", "SO-2", "SO-3"] {
        create(http, id);
    }
    wait_for("the first three", Duration::from_secs(20), || receiver.acked.lock().unwrap().len() >= 3);

    // Down: refused, retried, and the server dies with them queued.
    receiver.up.store(false, Ordering::SeqCst);
    for id in ["SO-4", "SO-5", "SO-6"] {
        create(http, id);
    }
    wait_for("a refused delivery", Duration::from_secs(20), || receiver.refused.load(Ordering::SeqCst) >= 3);
    server.kill();
    assert_eq!(receiver.acked.lock().unwrap().len(), 3, "nothing was acknowledged while down");

    // Back: the queue survived the crash and drains.
    receiver.up.store(true, Ordering::SeqCst);
    let _server = Server::start_with(dir.path(), port, Some(http));
    wait_for("all six", Duration::from_secs(30), || receiver.acked.lock().unwrap().len() >= 6);
    // Time for a wrongful second send to show up.
    std::thread::sleep(Duration::from_secs(2));

    let acked = receiver.acked.lock().unwrap().clone();
    let keys: Vec<&str> = acked.iter().map(|(k, _, _)| k.as_str()).collect();
    let mut unique = keys.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(keys.len(), unique.len(), "an acknowledged notification was sent again: {keys:?}");
    let want: Vec<String> = (1..=6).map(|i| format!("SO-{i}:confirmed")).collect();
    assert_eq!(unique, want.iter().map(String::as_str).collect::<Vec<_>>());
    for (key, body, signature) in &acked {
        assert!(verify(&secret, body, signature), "{key}: bad signature {signature}");
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!((v["id"].as_str(), v["topic"].as_str()), (Some(key.as_str()), Some("order.confirmed")));
    }
    let (_, hooks) = api(http, "GET", "/api/webhooks", None);
    assert_eq!((hooks[0]["delivered"].as_i64(), hooks[0]["pending"].as_i64()), (Some(6), Some(0)), "{hooks}");
}

#[test]
fn with_several_nodes_each_notification_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, nodes) = waybill_tests::nodes(dir.path(), 3, true);
    let http: Vec<u16> = nodes.iter().map(|n| n.http.unwrap()).collect();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hooks/waybill", listener.local_addr().unwrap());
    let receiver = Arc::new(Receiver::default());
    let r = receiver.clone();
    std::thread::spawn(move || receive(listener, r));
    let (status, hook) = api(http[0], "POST", "/api/webhooks", Some(&json!({ "url": url })));
    assert_eq!(status, 201, "{hook}");

    // Orders come in through every node while the receiver is down, so
    // every node's outbox finds them due, and retries them, at once.
    for i in 1..=12 {
        create(http[i % 3], &format!("SO-{i}"));
    }
    wait_for("refused deliveries", Duration::from_secs(20), || receiver.refused.load(Ordering::SeqCst) >= 12);
    receiver.up.store(true, Ordering::SeqCst);
    wait_for("all twelve", Duration::from_secs(60), || receiver.acked.lock().unwrap().len() >= 12);
    std::thread::sleep(Duration::from_secs(2));
    let mut keys: Vec<String> = receiver.acked.lock().unwrap().iter().map(|(k, _, _)| k.clone()).collect();
    let sent = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(sent, keys.len(), "a notification was delivered twice: {keys:?}");
    assert_eq!(keys.len(), 12);
}
