#![allow(clippy::unwrap_used)]
//! `waybill-server`'s command line as a new user meets it: empty lists say
//! so, tables have headers, a bad enrolment is refused with what to do,
//! `user add` takes a password from a pipe, errors say their cause once,
//! and a log written to a file has no colour codes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};

use waybill_tests::{SEED, bin, free_port};

fn server(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(bin("waybill-server")).arg("--data").arg(data).args(args).output().unwrap()
}

fn ok(data: &std::path::Path, args: &[&str]) -> String {
    let out = server(data, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(data: &std::path::Path, args: &[&str]) -> String {
    let out = server(data, args);
    assert!(!out.status.success(), "{args:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn lists_enrolment_and_users_say_what_is_wrong_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("srv");

    assert_eq!(ok(&data, &["orders"]).trim(), "no orders yet: import some with `import FILE`");
    assert_eq!(ok(&data, &["exceptions"]).trim(), "no open exceptions");
    assert!(ok(&data, &["devices"]).starts_with("no devices yet"));
    assert_eq!(ok(&data, &["--json", "orders"]).trim(), "[]");

    // A location the server does not hold is refused, naming those it does.
    let err = fails(&data, &["enrol", "--device", "hh-1", "--role", "picker", "--location", "wh-9"]);
    assert!(err.contains("there is no location wh-9") && err.contains("none yet"), "{err}");
    ok(&data, &["import", SEED]);
    assert!(ok(&data, &["import", SEED]).starts_with("nothing imported: every document in"));
    let err = fails(&data, &["revoke", "--device", "ghost"]);
    assert_eq!(err.trim(), "error: no device ghost: `devices` lists them");
    let err = fails(&data, &["user", "remove", "ghost"]);
    assert_eq!(err.trim(), "error: no user ghost: `user list` lists them");
    let err = fails(&data, &["enrol", "--device", "hh-1", "--role", "picker", "--location", "wh-9"]);
    assert!(err.contains("there is no location wh-9") && err.contains("(wh-1)"), "{err}");
    let err = fails(&data, &["enrol", "--device", "hh-1", "--role", "picker"]);
    assert!(err.contains("a picker works at a location") && err.contains("--location"), "{err}");
    assert!(ok(&data, &["devices"]).starts_with("no devices yet"), "nothing was written");
    ok(&data, &["enrol", "--device", "hh-1", "--role", "picker", "--location", "wh-1"]);

    // Tables have headers.
    let orders = ok(&data, &["orders"]);
    let header: Vec<&str> = orders.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["id", "status", "customer", "open", "exceptions"], "{orders}");
    assert!(orders.lines().nth(1).unwrap().starts_with("SO-1001  "), "{orders}");
    assert!(ok(&data, &["devices"]).starts_with("device "));

    // An unknown order: once, with what to do.
    let err = fails(&data, &["order", "SO-9"]);
    assert_eq!(err.trim(), "error: there is no order SO-9: `orders` lists them");

    // A password from a pipe, no prompt; a short one is refused.
    let add = |name: &str, password: &str| {
        let mut child = Command::new(bin("waybill-server"))
            .arg("--data")
            .arg(&data)
            .args(["user", "add", name])
            .env_remove("WAYBILL_PASSWORD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let added = add("ana", "correct horse");
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert_eq!(String::from_utf8_lossy(&added.stdout).trim(), "added ana as admin");
    assert!(added.stderr.is_empty(), "no prompt on a pipe");
    let short = add("bo", "short");
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 8 characters"));
    assert_eq!(ok(&data, &["user", "list"]), "user  role   locations\nana   admin  -\n");
    let again = add("ana", "correct horse");
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already: choose another name"));

    // Roles: what is wrong with one is said before the password is asked for.
    let user = |args: &[&str]| {
        let mut all = vec!["user"];
        all.extend(args);
        all.iter().map(|a| (*a).to_owned()).collect::<Vec<String>>()
    };
    let refused = |args: &[&str]| {
        let args = user(args);
        fails(&data, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let err = refused(&["add", "lee", "--role", "boss"]);
    assert!(err.contains("unknown role \"boss\": one of admin, dispatcher, warehouse_lead, viewer"), "{err}");
    let err = refused(&["add", "lee", "--role", "warehouse_lead"]);
    assert!(
        err.contains("a warehouse_lead works at one or more locations") && err.contains("--location"),
        "{err}"
    );
    let err = refused(&["add", "lee", "--role", "warehouse-lead", "--location", "wh-9"]);
    assert!(err.contains("there is no location wh-9") && err.contains("(wh-1)"), "{err}");
    let err = refused(&["add", "vic", "--role", "viewer", "--location", "wh-1"]);
    assert!(
        err.contains("a viewer works at every location: --location is only for a warehouse_lead"),
        "{err}"
    );
    let err = refused(&["set-role", "ghost", "--role", "viewer"]);
    assert_eq!(err.trim(), "error: no user ghost: `user list` lists them");
    let lead = Command::new(bin("waybill-server"))
        .arg("--data")
        .arg(&data)
        .args(["user", "add", "lee", "--role", "warehouse_lead", "--location", "wh-1"])
        .env("WAYBILL_PASSWORD", "correct horse")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&lead.stdout).trim(), "added lee as warehouse_lead at wh-1");
    assert_eq!(
        ok(&data, &["user", "set-role", "ana", "--role", "dispatcher"]).trim(),
        "ana is now dispatcher"
    );
    assert_eq!(
        ok(&data, &["user", "list"]),
        "user  role            locations\nana   dispatcher      -\nlee   warehouse_lead  wh-1\n"
    );
    let listed: serde_json::Value = serde_json::from_str(&ok(&data, &["--json", "user", "list"])).unwrap();
    assert_eq!(
        listed[1],
        serde_json::json!({ "user": "lee", "role": "warehouse_lead", "locations": ["wh-1"] })
    );
    // The audit log has what the command line did, newest first, by `cli`.
    let database =
        waybill_sync_server::storage::Database::Sqlite(waybill_sync_server::server::db_path(&data));
    let log = waybill_tests::block_on(async move {
        let (storage, _writer) = waybill_sync_server::storage::open(&database).await.unwrap();
        waybill_sync_server::audit::list(&storage, None, 10).await.unwrap()
    });
    let said: Vec<(&str, &str, &str)> =
        log.iter().map(|e| (e.user.as_str(), e.action.as_str(), e.request.as_str())).collect();
    assert_eq!(
        said,
        [
            ("cli", "change a user's role", "user set-role ana (dispatcher)"),
            ("cli", "add a user", "user add lee (warehouse_lead at wh-1)"),
            ("cli", "add a user", "user add ana (admin)"),
        ]
    );

    // `demo --help` names the demo's own folder.
    let help = ok(&data, &["demo", "--help"]);
    assert!(help.contains("waybill-demo") && help.contains("new world"), "{help}");
    assert!(!help.contains("[default: waybill-data]"), "{help}");
}

#[test]
fn a_taken_port_is_said_once_and_a_log_file_has_no_colour() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("srv");
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let port = free_port();
    let mut first = Command::new(bin("waybill-server"))
        .arg("--data")
        .arg(&data)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(first.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on"), "{line}");

    let err = fails(&data, &["serve", "--listen", &format!("127.0.0.1:{port}")]);
    assert!(err.contains("cannot listen on") && err.contains("--listen"), "{err}");
    assert_eq!(err.matches("in use").count(), 1, "said once: {err}");

    first.kill().unwrap();
    first.wait().unwrap();
    let logged = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(logged.contains("waybill-server listening"), "{logged}");
    assert!(!logged.contains('\u{1b}'), "colour codes in a log file: {logged:?}");
}

/// A seed of `n` one-line orders, every third assigned for picking; order
/// `bad`, if any, is assigned for picking with no location to pick at.
fn big_seed(n: usize, bad: Option<usize>) -> String {
    let orders: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let mut o = serde_json::json!({
                "id": format!("SO-{i}"), "customer": "c", "created_at": "2026-11-23T08:00:00Z",
                "ship_to": {"name": "n", "line1": "1 Main St", "city": "Town", "postcode": "1000", "country": "GB"},
                "lines": [{"line": 1, "gtin": "09506000134352", "description": "Gear", "quantity": 1}],
            });
            if i % 3 == 0 {
                o["location"] = "wh-1".into();
            }
            if i % 3 == 0 || bad == Some(i) {
                o["pick_device"] = "hh-1".into();
            }
            o
        })
        .collect();
    serde_json::json!({ "orders": orders }).to_string()
}

#[test]
fn a_large_import_streams_in_batches_stops_at_a_bad_order_saying_where_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("srv");
    let file = dir.path().join("orders.json");
    std::fs::write(&file, big_seed(2500, Some(1700))).unwrap();

    // Order 1,700 stops it; the first batch of 1,000 is in, and nothing of
    // the second.
    let err = fails(&data, &["import", file.to_str().unwrap()]);
    assert!(err.contains("orders[1700]: order SO-1700 is assigned for picking but has no location"), "{err}");
    assert!(err.contains("1000 document(s) before it are imported"), "{err}");
    // Each order's document holds its own events (written on several
    // threads): every third is assigned, the rest only created.
    let count = |data: &std::path::Path| {
        let out = ok(data, &["--json", "orders"]);
        let orders: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        for o in &orders {
            let i: usize = o["id"].as_str().unwrap()["SO-".len()..].parse().unwrap();
            let status = if i % 3 == 0 { "picking" } else { "created" };
            assert_eq!(o["status"], status, "{o}");
        }
        orders.len()
    };
    assert_eq!(count(&data), 1000);

    // Fixed, and run again: it takes up where it stopped. An order twice in
    // the file is taken once.
    let mut fixed: serde_json::Value = serde_json::from_str(&big_seed(2500, None)).unwrap();
    let again = fixed["orders"][1999].clone();
    fixed["orders"].as_array_mut().unwrap().push(again);
    std::fs::write(&file, fixed.to_string()).unwrap();
    let out = ok(&data, &["import", file.to_str().unwrap()]);
    assert!(out.starts_with("imported 1500 document(s): order/SO-1000, order/SO-1001"), "{out}");
    assert!(out.trim_end().ends_with("and 1480 more"), "{out}");
    assert_eq!(count(&data), 2500);
    assert!(ok(&data, &["import", file.to_str().unwrap()]).starts_with("nothing imported"));

    // Not a seed file: said, with where.
    std::fs::write(&file, r#"{"orders": [], "oders": []}"#).unwrap();
    let err = fails(&data, &["import", file.to_str().unwrap()]);
    assert!(err.contains("unknown field `oders`") && err.contains("line 1"), "{err}");
}
