//! Several handles on one store, as an app and its background sync have:
//! no event id is handed out twice, and each handle sees what the others
//! wrote.

#![allow(clippy::unwrap_used)]

use std::path::Path;

use waybill_agent::{Agent, PickRequest, Profile, Seed};
use waybill_shared::doc::DocId;
use waybill_shared::id::DeviceId;
use waybill_shared::role::Role;

fn picker(path: &Path) -> Agent {
    let profile = Profile {
        device: DeviceId::new("hh-1").unwrap(),
        role: Role::Picker,
        location: Some("wh-1".parse().unwrap()),
        user: None,
    };
    let mut agent = Agent::init(path, profile).unwrap();
    let seed: Seed =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/seed.json"))).unwrap();
    agent.import(&seed).unwrap();
    agent
}

fn pick(agent: &mut Agent, line: u32) -> String {
    let (bin, item) = if line == 1 { ("A-01", "09506000134352") } else { ("B-01", "09506000134369") };
    let req = PickRequest {
        order: "SO-1001".parse().unwrap(),
        line,
        bin: bin.into(),
        item: item.into(),
        quantity: 1,
        // a supervisor's override: these tests pick more than the lines need
        override_reason: Some("test".into()),
    };
    agent.pick(&req).unwrap().id.to_string()
}

#[test]
fn two_handles_never_hand_out_one_event_id_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hh-1.db");
    let mut app = picker(&path);
    let mut other = Agent::open(&path).unwrap();
    let order = DocId::Order("SO-1001".parse().unwrap());

    let first = pick(&mut app, 1);
    // The other handle writes the recorder too (a merge observes clocks),
    // without having recorded anything itself.
    let bytes = app.export(&order).unwrap();
    other.merge_doc(&bytes).unwrap();
    let second = pick(&mut other, 1);
    let third = pick(&mut app, 2);
    let fourth = pick(&mut Agent::open(&path).unwrap(), 2);

    let mut ids = vec![first, second, third, fourth];
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "{ids:?}");
    assert_eq!(app.status().unwrap().pending_events, 4);
}

#[test]
fn a_handle_sees_what_another_handle_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hh-1.db");
    let mut app = picker(&path);
    let order = "SO-1001".parse().unwrap();
    assert_eq!(app.order_view(&order).unwrap().lines[0].picked, 0);

    pick(&mut Agent::open(&path).unwrap(), 1);
    assert_eq!(app.order_view(&order).unwrap().lines[0].picked, 1);
    // and its own next event builds on it
    pick(&mut app, 1);
    let view = Agent::open(&path).unwrap().order_view(&order).unwrap();
    assert_eq!(view.lines[0].picked, 2);
    assert_eq!(view.timeline.len(), app.order_view(&order).unwrap().timeline.len());
}
