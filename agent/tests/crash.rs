//! `kill -9` the agent at random moments while it records, many times:
//! after each restart the store opens, every event it acknowledged is there,
//! and it carries on numbering without reusing an id.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use waybill_agent::{Agent, Profile};
use waybill_shared::doc::{self, DocId};

const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/seed.json");

fn agent(store: &Path, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_waybill-agent"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts `run`, feeds it `lines` receive commands, and kills it with
/// SIGKILL after `after`. Returns the event ids it acknowledged.
fn run_and_kill(store: &Path, lines: usize, after: Duration) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_waybill-agent"))
        .arg("--store")
        .arg(store)
        .args(["--json", "run"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        for _ in 0..lines {
            // The pipe breaks when the process dies: that is the point.
            if stdin.write_all(b"receive --bin A-01 --item 09506000134352 --qty 1\n").is_err() {
                break;
            }
        }
    });
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stdout = child.stdout.take().unwrap();
    let sink = acked.clone();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let v: serde_json::Value =
                serde_json::from_str(&line).expect("each acknowledgement is a whole JSON line");
            sink.lock().unwrap().push(v["id"].as_str().unwrap().to_owned());
        }
    });
    std::thread::sleep(after);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    feeder.join().unwrap();
    reader.join().unwrap();
    Arc::try_unwrap(acked).unwrap().into_inner().unwrap()
}

#[test]
fn killing_the_agent_at_any_moment_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let office = dir.path().join("office.db");
    let store = dir.path().join("hh-1.db");
    let location = dir.path().join("location.automerge");
    agent(&office, &["init", "--device", "office-1", "--role", "office"]);
    agent(&office, &["import", SEED]);
    agent(&office, &["export", "location/wh-1/0", "--out", location.to_str().unwrap()]);
    agent(&store, &["init", "--device", "hh-1", "--role", "picker", "--location", "wh-1"]);
    agent(&store, &["merge", location.to_str().unwrap()]);

    let id = DocId::Location { id: "wh-1".parse().unwrap(), epoch: 0 };
    let mut acked: BTreeSet<String> = BTreeSet::new();
    let mut seed: u64 = 0x5eed;
    for round in 0..30 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let after = Duration::from_millis(30 + seed % 250);
        let ids = run_and_kill(&store, 2_000, after);
        for i in &ids {
            assert!(acked.insert(i.clone()), "round {round}: event id {i} acknowledged twice");
        }

        // Restart: the store opens, the document loads, nothing acknowledged is missing.
        let mut a = Agent::open(&store).unwrap_or_else(|e| panic!("round {round}: store does not open: {e}"));
        let bytes = a.export(&id).unwrap();
        let contents = doc::location::read(automerge::AutoCommit::load(&bytes).unwrap().document()).unwrap();
        let held: BTreeSet<String> = contents.events.iter().map(|e| e.id.to_string()).collect();
        let missing: Vec<_> = acked.difference(&held).collect();
        assert!(missing.is_empty(), "round {round}: acknowledged but lost: {missing:?}");
        // every event held counts once in the stock (12 opening + 1 per receipt)
        let on_hand = a
            .stock_view(&"wh-1".parse().unwrap())
            .unwrap()
            .on_hand(&"A-01".parse().unwrap(), &"09506000134352".parse().unwrap());
        assert_eq!(on_hand, 12 + held.len() as i64, "round {round}");
        assert_eq!(a.status().unwrap().pending_events as usize, held.len());
    }
    eprintln!("{} events acknowledged across 30 kills", acked.len());
    assert!(acked.len() > 100, "the test should have recorded real work, got {}", acked.len());
    let profile: Profile = Agent::open(&store).unwrap().profile().clone();
    assert_eq!(profile.device.as_str(), "hh-1");
}
