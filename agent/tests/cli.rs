//! The `waybill-agent` binary end to end: four devices (office, picker,
//! packer, driver), each with its own store, no network: documents travel as
//! exported `.automerge` files. Pick, pack, deliver with proof, and the
//! office sees the merged order. Bad input exits non-zero with a clear
//! message and writes nothing.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/seed.json");

struct Device {
    store: PathBuf,
}

impl Device {
    /// Runs a command that must succeed; what it prints for people.
    fn text(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_waybill-agent"))
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .output()
            .expect("the binary runs");
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn init(dir: &Path, device: &str, role: &str, location: Option<&str>) -> Self {
        let store = dir.join(format!("{device}.db"));
        let d = Self { store };
        let mut args = vec!["init", "--device", device, "--role", role];
        if let Some(l) = location {
            args.extend(["--location", l]);
        }
        d.ok(&args);
        d
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_waybill-agent"))
            .arg("--store")
            .arg(&self.store)
            .arg("--json")
            .args(args)
            .output()
            .expect("the binary runs")
    }

    /// Runs a command that must succeed; its JSON output.
    fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?} failed: {stderr}");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: bad JSON ({e}): {:?}", out.stdout))
    }

    /// Runs a command that must fail; its stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "{args:?} should have failed");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Exports documents to files in `dir`, for another device to merge.
    fn export(&self, dir: &Path, docs: &[&str]) -> Vec<String> {
        docs.iter()
            .map(|doc| {
                let file = dir.join(format!("{}.automerge", doc.replace('/', "_")));
                self.ok(&["export", doc, "--out", file.to_str().unwrap()]);
                file.to_string_lossy().into_owned()
            })
            .collect()
    }

    fn merge(&self, files: &[String]) {
        let mut args = vec!["merge"];
        args.extend(files.iter().map(String::as_str));
        self.ok(&args);
    }

    fn pending(&self) -> i64 {
        self.ok(&["status"])["pending_events"].as_i64().unwrap()
    }
}

#[test]
fn pick_pack_and_deliver_an_order_offline_across_four_devices() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path();
    let office = Device::init(files, "office-1", "office", None);
    let imported = office.ok(&["import", SEED]);
    assert_eq!(imported["created"].as_array().unwrap().len(), 4);
    let handed = office.export(files, &["order/SO-1001", "order/SO-1002", "location/wh-1/0", "route/R-7"]);

    // The picker: its list in walk order, one scan each for bin and item.
    let picker = Device::init(files, "hh-1", "picker", Some("wh-1"));
    picker.merge(&handed);
    let tasks = picker.ok(&["tasks"]);
    let bins: Vec<&str> =
        tasks["tasks"].as_array().unwrap().iter().map(|t| t["bin"].as_str().unwrap()).collect();
    assert_eq!(bins, ["A-01", "A-02", "B-01"]);
    let scanned = picker.ok(&["scan", "WB:BIN:wh-1:A-01"]);
    assert_eq!((scanned["kind"].as_str(), scanned["here"].as_bool()), (Some("bin"), Some(true)));
    assert_eq!(scanned["picks"].as_array().unwrap().len(), 1);
    let pick = picker.ok(&[
        "pick",
        "--order",
        "SO-1001",
        "--line",
        "1",
        "--bin",
        "WB:BIN:wh-1:A-01",
        "--item",
        "]C10109506000134352",
        "--qty",
        "2",
    ]);
    assert_eq!(pick["id"], "hh-1:1");
    assert_eq!(pick["payload"]["type"], "picked");
    picker.ok(&[
        "pick",
        "--order",
        "SO-1001",
        "--line",
        "2",
        "--bin",
        "B-01",
        "--item",
        "9506000134369",
        "--qty",
        "1",
    ]);
    let order = picker.ok(&["order", "SO-1001"]);
    assert_eq!(order["status"], "picked");
    let stock = picker.ok(&["stock"]);
    let a01 = stock["stock"].as_array().unwrap().iter().find(|s| s["bin"] == "A-01").unwrap().clone();
    assert_eq!(a01["on_hand"], 10);
    assert_eq!(picker.pending(), 2);
    let picked = picker.export(files, &["order/SO-1001"]);

    // The packer packs both lines into one package, closes and stages it.
    let packer = Device::init(files, "pk-1", "packer", Some("wh-1"));
    packer.merge(&picked);
    let queue = packer.ok(&["tasks"]);
    assert_eq!(queue["tasks"][0]["order"], "SO-1001");
    let packed_reply = packer.ok(&[
        "pack",
        "--order",
        "SO-1001",
        "--package",
        "106141411234567897",
        "--line",
        "1:2",
        "--line",
        "2:1",
        "--weight-g",
        "1800",
    ]);
    assert_eq!(packed_reply["order"], "SO-1001", "{packed_reply}");
    let closed = packer.ok(&[
        "close",
        "--order",
        "SO-1001",
        "--package",
        "(00)106141411234567897",
        "--weight-g",
        "1850",
    ]);
    assert_eq!(closed["order"], "SO-1001", "{closed}");
    packer.ok(&["stage", "--order", "SO-1001", "--package", "106141411234567897", "--area", "lane-3"]);
    assert_eq!(packer.ok(&["order", "SO-1001"])["status"], "packed");
    let packed = packer.export(files, &["order/SO-1001"]);

    // The driver loads, goes out, arrives and delivers with photo and signature.
    let driver = Device::init(files, "drv-1", "driver", None);
    driver.merge(&packed);
    driver.merge(&[handed[3].clone()]);
    let loaded = driver.ok(&["load", "--route", "R-7", "--package", "106141411234567897"]);
    assert_eq!(loaded["order"], "SO-1001", "{loaded}");
    let out = driver.ok(&["out", "--route", "R-7"]);
    assert_eq!(out["route"], "R-7", "{out}");
    assert_eq!(out["events"][0]["order"], "SO-1001", "{out}");
    assert_eq!(out["events"][0]["payload"]["type"], "out_for_delivery", "{out}");
    // Proof missing: every item named at once; a photo that is not there,
    // said once.
    let missing = driver.fails(&["deliver", "--route", "R-7", "--stop", "1", "--recipient", "A. Lovelace"]);
    assert!(missing.contains("needs a signature and a photo"), "{missing}");
    let nope = files.join("nope.jpg");
    let no_file = driver.fails(&[
        "deliver",
        "--route",
        "R-7",
        "--stop",
        "1",
        "--recipient",
        "A. Lovelace",
        "--photo",
        nope.to_str().unwrap(),
        "--signature",
        nope.to_str().unwrap(),
    ]);
    assert!(no_file.contains("cannot read"), "{no_file}");
    assert_eq!(no_file.matches("No such file").count(), 1, "said once: {no_file}");
    driver.ok(&["arrive", "--route", "R-7", "--stop", "1", "--gps", "51.5074,-0.1344"]);
    std::fs::write(files.join("door.jpg"), b"\xff\xd8\xff jpeg bytes of the door").unwrap();
    std::fs::write(files.join("sig.png"), b"\x89PNG signature strokes").unwrap();
    let photo = files.join("door.jpg");
    let sig = files.join("sig.png");
    let delivered = driver.ok(&[
        "deliver",
        "--route",
        "R-7",
        "--stop",
        "1",
        "--recipient",
        "A. Lovelace",
        "--relation",
        "recipient",
        "--photo",
        photo.to_str().unwrap(),
        "--signature",
        sig.to_str().unwrap(),
        "--gps",
        "51.5074,-0.1344",
    ]);
    assert_eq!(delivered["payload"]["type"], "delivered");
    assert!(delivered["payload"]["proof"]["photo"].as_str().unwrap().starts_with("sha256:"));
    let view = driver.ok(&["order", "SO-1001"]);
    assert_eq!(view["status"], "completed");
    assert_eq!(driver.ok(&["route", "R-7"])["stops"][0]["state"], "delivered");
    let done = driver.export(files, &["order/SO-1001"]);

    // The office merges what came back: the whole story, nothing lost.
    office.merge(&done);
    let view = office.ok(&["order", "SO-1001"]);
    let kinds: Vec<&str> =
        view["timeline"].as_array().unwrap().iter().map(|t| t["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "order_created",
            "allocated",
            "pick_assigned",
            "picked",
            "picked",
            "packed",
            "package_closed",
            "staged",
            "loaded",
            "out_for_delivery",
            "delivered"
        ]
    );
    assert_eq!(view["proofs"][0]["proof"]["recipient_name"], "A. Lovelace");
    // The office has no copy of the blobs yet: the proof says so, and the
    // order still counts as delivered.
    assert_eq!(view["status"], "delivered");
    assert_eq!(view["exceptions"][0]["kind"], "proof_blob_missing");

    // Exports are plain Automerge files and JSON views.
    let out = files.join("SO-1001.automerge");
    let json = files.join("SO-1001.json");
    office.ok(&["export", "order/SO-1001", "--out", out.to_str().unwrap(), "--view", json.to_str().unwrap()]);
    let doc = automerge::AutoCommit::load(&std::fs::read(&out).unwrap()).unwrap();
    assert!(!doc.is_empty());
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["header"]["id"], "SO-1001");
}

#[test]
fn bad_input_is_refused_with_a_clear_message_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path();
    let office = Device::init(files, "office-1", "office", None);
    office.ok(&["import", SEED]);
    let handed = office.export(files, &["order/SO-1001", "location/wh-1/0"]);
    let picker = Device::init(files, "hh-1", "picker", Some("wh-1"));
    picker.merge(&handed);

    let pick = |bin: &str, item: &str, qty: &str| {
        ["pick", "--order", "SO-1001", "--line", "1", "--bin", bin, "--item", item, "--qty", qty]
            .map(str::to_owned)
    };
    let cases: Vec<(Vec<String>, &str)> = vec![
        (pick("A-01", "09506000134353", "1").to_vec(), "check digit"),
        (pick("A-01", "09506000134369", "1").to_vec(), "wrong item for line 1"),
        (pick("A-01", "09506000134352", "3").to_vec(), "3 is more than the 2 left to pick"),
        (pick("Z-99", "09506000134352", "1").to_vec(), "bin Z-99 at wh-1 is not on this device"),
        (pick("WB:BIN:wh-2:A-01", "09506000134352", "1").to_vec(), "expected a bin at this location"),
        (pick("A-01", "09506000134352", "0").to_vec(), "at least 1"),
        (
            [
                "pick",
                "--order",
                "SO-9",
                "--line",
                "1",
                "--bin",
                "A-01",
                "--item",
                "09506000134352",
                "--qty",
                "1",
            ]
            .map(str::to_owned)
            .to_vec(),
            "order SO-9 is not on this device",
        ),
        (
            ["load", "--route", "R-7", "--package", "106141411234567897"].map(str::to_owned).to_vec(),
            "a picker may not",
        ),
        (["scan", "hello"].map(str::to_owned).to_vec(), "bad barcode"),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let err = picker.fails(&args);
        assert!(err.contains(expected), "{args:?}: expected {expected:?} in {err:?}");
        assert_eq!(picker.pending(), 0, "{args:?} wrote something");
    }
    // a supervisor override lets the over-pick through, and it shows as an exception
    let mut over = pick("A-01", "09506000134352", "3").to_vec();
    over.extend(["--override".into(), "customer asked for a spare".into()]);
    let over: Vec<&str> = over.iter().map(String::as_str).collect();
    picker.ok(&over);
    let view = picker.ok(&["order", "SO-1001"]);
    assert_eq!(view["exceptions"][0]["kind"], "over_pick");

    // a store that was never initialised
    let stray = Device { store: files.join("none.db") };
    let err = stray.fails(&["status"]);
    assert!(err.contains("holds no device") && err.contains("waybill-agent init"), "{err}");
    // init twice
    assert!(
        picker
            .fails(&["init", "--device", "hh-9", "--role", "picker"])
            .contains("already belongs to device hh-1")
    );
}

#[test]
fn run_reads_commands_from_stdin_and_acknowledges_each() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let office = Device::init(dir.path(), "office-1", "office", None);
    office.ok(&["import", SEED]);
    let handed = office.export(dir.path(), &["location/wh-1/0"]);
    let picker = Device::init(dir.path(), "hh-1", "picker", Some("wh-1"));
    picker.merge(&handed);
    let mut child = Command::new(env!("CARGO_BIN_EXE_waybill-agent"))
        .args(["--store", picker.store.to_str().unwrap(), "--json", "run"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"# receive two\nreceive --bin A-01 --item 09506000134352 --qty 2\nreceive --bin nowhere --item 09506000134352 --qty 1\nreceive --bin A-02 --item 09506000134376 --qty 1\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "one line failed, so the exit code says so");
    let acks: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(acks.iter().map(|a| a["id"].as_str().unwrap()).collect::<Vec<_>>(), ["hh-1:1", "hh-1:2"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 3"));
}

/// What a new user meets: each message says once what is wrong and what to
/// do, answers name what they are about, and lists say when they are empty.
#[test]
fn messages_say_once_what_is_wrong_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path();
    let office = Device::init(files, "office-1", "office", None);
    office.ok(&["import", SEED]);
    let handed = office.export(files, &["order/SO-1001", "location/wh-1/0"]);
    let picker = Device::init(files, "hh-1", "picker", Some("wh-1"));

    // Empty lists say so.
    assert!(picker.text(&["tasks"]).contains("nothing to pick"));
    assert!(picker.text(&["docs"]).contains("no documents yet"));
    assert_eq!(picker.ok(&["docs"]), serde_json::json!([]));
    picker.merge(&handed);
    let docs = picker.ok(&["docs"]);
    assert_eq!(docs[0], serde_json::json!({ "doc": "location/wh-1/0", "unsynced": false }), "{docs}");
    assert_eq!(docs.as_array().unwrap().len(), 2, "{docs}");

    // A bad barcode says its fault once.
    let err = picker.fails(&["scan", "09506000134353"]);
    assert!(err.starts_with("error: bad barcode: "), "{err}");
    assert_eq!(err.matches("check digit").count(), 1, "said once: {err}");
    // Over-picking names the way through.
    let over = ["pick", "--order", "SO-1001", "--line", "1", "--bin", "A-01"];
    let err = picker.fails(&[&over[..], &["--item", "09506000134352", "--qty", "5"]].concat());
    assert!(err.contains("5 is more than the 2 left to pick") && err.contains("--override"), "{err}");

    // Words, not Rust values.
    let scanned = picker.text(&["scan", "WB:ORD:SO-1001"]);
    assert_eq!(scanned.trim(), "order SO-1001: picking");
    assert!(!picker.text(&["order", "SO-1001"]).contains("Picking"));

    // Every recording answer names its order; the text too.
    let short = picker.ok(&[
        "short-pick",
        "--order",
        "SO-1001",
        "--line",
        "2",
        "--bin",
        "B-01",
        "--qty",
        "1",
        "--reason",
        "not-found",
    ]);
    assert_eq!(short["order"], "SO-1001", "{short}");
    let docs = picker.text(&["docs"]);
    assert!(docs.contains("order/SO-1001  (not yet synced)"), "{docs}");

    // `run` says a bad line once, on one line.
    let out = Command::new(env!("CARGO_BIN_EXE_waybill-agent"))
        .arg("--store")
        .arg(&picker.store)
        .arg("run")
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(b"pick --order\n")?;
            child.wait_with_output()
        })
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.starts_with("error: line 1: a value is required for '--order"), "{err}");
    assert_eq!(err.matches("error").count(), 1, "{err}");
}

/// Every argument of every subcommand says what it is in `--help`.
#[test]
fn every_argument_is_described_in_help() {
    let help = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_waybill-agent")).args(args).output().unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = help(&["--help"]);
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() > 20, "{top}");
    for c in &commands {
        let text = help(&[c, "--help"]);
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            let t = l.trim_start();
            if !(t.starts_with('-') || t.starts_with('<') || t.starts_with('[')) || !l.starts_with("  ") {
                continue;
            }
            let described = t.split_once("  ").is_some_and(|(_, rest)| !rest.trim().is_empty())
                || lines.get(i + 1).is_some_and(|n| n.starts_with("          ") && !n.trim().is_empty());
            assert!(described, "`{c} --help`: {t:?} has no description:\n{text}");
        }
    }
    assert!(help(&["pack", "--help"]).contains("weight in grams"));
}

#[test]
fn a_case_label_picks_its_count_in_one_scan_and_a_unit_label_reports_both_keys() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path();
    let office = Device::init(files, "office-1", "office", None);
    office.ok(&["import", SEED]);
    let handed = office.export(files, &["order/SO-1002", "location/wh-1/0"]);
    let picker = Device::init(files, "hh-1", "picker", Some("wh-1"));
    picker.merge(&handed);

    // SO-1002 wants 3 oil cans; a case label of 3 (37), expiry 31 December
    // 1999 (17) in GS1's century window, not 2099.
    let case = "]C1010950600013437637 3\u{1d}17991231".replace(' ', "");
    let scanned = picker.ok(&["scan", &case]);
    assert_eq!(scanned["kind"], "item", "{scanned}");
    assert_eq!((scanned["gtin"].as_str(), scanned["count"].as_u64()), (Some("09506000134376"), Some(3)));
    assert_eq!(scanned["expiry"], "1999-12-31");
    assert_eq!(scanned["picks"].as_array().unwrap().len(), 1);

    let pick = |qty: &str| {
        ["pick", "--order", "SO-1002", "--line", "1", "--bin", "A-02", "--item", &case, "--qty", qty]
            .map(str::to_owned)
    };
    // two cases are 6 units, more than the 3 the line needs
    let err = picker.fails(&pick("2").iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("6 is more than the 3 left to pick"), "{err}");
    let picked = picker.ok(&pick("1").iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(picked["payload"]["quantity"], 3, "{picked}");
    assert_eq!(picked["payload"]["expiry"], "1999-12-31", "{picked}");
    assert_eq!(picker.ok(&["order", "SO-1002"])["status"], "picked");

    // A logistic unit's label with its SSCC (00) and content (01)+(37).
    let both = picker.ok(&["scan", "(00)106141411234567897(01)09506000134376(37)3"]);
    assert_eq!(both["kind"], "package", "{both}");
    assert_eq!(both["sscc"], "106141411234567897");
    assert_eq!(
        (both["item"]["gtin"].as_str(), both["item"]["count"].as_u64()),
        (Some("09506000134376"), Some(3))
    );
}
