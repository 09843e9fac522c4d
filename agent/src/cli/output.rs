//! What the CLI prints: every reply has a JSON form (`--json`) and a short
//! text form for people.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use waybill_agent::{Imported, Scanned, Status, SyncReport, Tasks};
use waybill_shared::doc::DocId;
use waybill_shared::event::Event;
use waybill_shared::fold::{OrderView, RouteView, StockView};

/// One command's output.
pub struct Reply {
    /// For `--json`.
    pub json: serde_json::Value,
    /// For people.
    pub text: String,
}

fn reply<T: Serialize>(value: &T, text: String) -> Reply {
    Reply { json: serde_json::to_value(value).unwrap_or(serde_json::Value::Null), text }
}

pub fn event(e: &Event) -> Reply {
    reply(e, format!("recorded {} {} at {}", e.payload.name(), e.id, e.at.format("%Y-%m-%d %H:%M:%S")))
}

pub fn events(es: &[Event]) -> Reply {
    let text = es.iter().map(|e| event(e).text).collect::<Vec<_>>().join("\n");
    reply(&es, text)
}

pub fn status(s: &Status) -> Reply {
    let mut t = format!("device {} ({})", s.profile.device, s.profile.role);
    if let Some(l) = &s.profile.location {
        let _ = write!(t, " at {l}");
    }
    if let Some(u) = &s.profile.user {
        let _ = write!(t, ", signed in: {u}");
    }
    let last = s.last_sync.map_or("never".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    let _ = write!(
        t,
        "\npending events: {}\nquarantined changes: {}\nlast sync: {last}\ndocuments: {}\nstore: {} KiB",
        s.pending_events,
        s.quarantined,
        s.documents,
        s.store_bytes / 1024
    );
    reply(s, t)
}

pub fn imported(i: &Imported) -> Reply {
    reply(i, format!("imported {} document(s), {} already held", i.created.len(), i.skipped.len()))
}

pub fn tasks(tasks: &Tasks) -> Reply {
    let mut t = String::new();
    match tasks {
        Tasks::Picker(picks) => {
            let _ = writeln!(t, "{} pick(s), in walk order:", picks.len());
            for p in picks {
                let bin = p.bin.as_ref().map_or("no stock".to_owned(), ToString::to_string);
                let _ = writeln!(
                    t,
                    "  {:<8} {} line {}: {} x {} ({})",
                    bin, p.order, p.line, p.remaining, p.gtin, p.description
                );
            }
        }
        Tasks::Packer(queue) => {
            let _ = writeln!(t, "{} order(s) to pack:", queue.len());
            for p in queue {
                let lines: Vec<String> = p.lines.iter().map(|(l, q)| format!("line {l}: {q}")).collect();
                let _ = writeln!(t, "  {}: {}", p.order, lines.join(", "));
            }
        }
        Tasks::Driver(routes) => {
            for r in routes {
                let next = r.next_stop.map_or("done".to_owned(), |s| format!("next stop {s}"));
                let _ = writeln!(t, "route {} ({next}):", r.route);
                for s in &r.stops {
                    let orders: Vec<String> = s.stop.orders.iter().map(ToString::to_string).collect();
                    let _ = writeln!(
                        t,
                        "  stop {} {:?}: {} — {}, {} package(s)",
                        s.stop.seq,
                        s.stop.state,
                        orders.join(", "),
                        s.stop.address.line1,
                        s.parcels.len()
                    );
                }
            }
        }
        Tasks::Office => t.push_str("the office has no device work list"),
    }
    reply(tasks, t.trim_end().to_owned())
}

/// ` x N` for a label standing for N units (a count (37)).
fn units(count: Option<u32>) -> String {
    count.map_or(String::new(), |n| format!(" x {n}"))
}

pub fn scanned(s: &Scanned) -> Reply {
    let text = match s {
        Scanned::Bin { location, bin, here, picks } => {
            let place = if *here { "here" } else { "another location" };
            format!("bin {bin} at {location} ({place}), {} pick(s) from it", picks.len())
        }
        Scanned::Item { item, picks } => {
            format!("item {}{}, {} pick(s) of it", item.gtin, units(item.count), picks.len())
        }
        Scanned::Package { sscc, item, order, whereabouts } => {
            let content =
                item.as_ref().map_or(String::new(), |i| format!(" holding {}{}", i.gtin, units(i.count)));
            match order {
                Some(o) => format!("package {sscc}{content} of order {o}: {whereabouts:?}"),
                None => format!("package {sscc}{content}, not on this device"),
            }
        }
        Scanned::Order { order, status } => match status {
            Some(s) => format!("order {order}: {s:?}"),
            None => format!("order {order}, not on this device"),
        },
        Scanned::Route { route, held } => {
            format!("route {route}{}", if *held { "" } else { ", not on this device" })
        }
    };
    reply(s, text)
}

pub fn order(v: &OrderView) -> Reply {
    let mut t = format!("order {} for {}: {:?}", v.header.id, v.header.customer, v.status);
    let a = &v.ship_to;
    let _ = write!(t, "\nship to: {}, {}, {} {}", a.name, a.line1, a.postcode, a.city);
    let _ = write!(t, "\nline  item            ordered alloc picked short packed deliv return");
    for l in &v.lines {
        let gtin = l.gtin.as_ref().map_or("-".to_owned(), ToString::to_string);
        let _ = write!(
            t,
            "\n{:>4}  {:<15} {:>7} {:>5} {:>6} {:>5} {:>6} {:>5} {:>6}",
            l.line, gtin, l.ordered, l.allocated, l.picked, l.short, l.packed, l.delivered, l.returned
        );
    }
    for p in &v.packages {
        let _ = write!(t, "\npackage {}: {:?}", p.sscc, p.whereabouts);
    }
    for p in &v.proofs {
        let who = p.proof.recipient_name.as_deref().unwrap_or("-");
        let _ = write!(
            t,
            "\nproof {}: {:?} {who} at {}",
            p.event,
            p.proof.relation,
            p.at.format("%Y-%m-%d %H:%M")
        );
    }
    let open = v.open_exceptions().count();
    let _ = write!(t, "\nexceptions: {} ({open} open)", v.exceptions.len());
    for e in &v.exceptions {
        let events: Vec<String> = e.events.iter().map(ToString::to_string).collect();
        let state = if e.is_open() { "OPEN" } else { "resolved" };
        let _ = write!(t, "\n  {state:<8} {} [{}]", e.id, events.join(", "));
    }
    reply(v, t)
}

pub fn stock(v: &StockView) -> Reply {
    let mut t = format!("stock at {} (epoch {}):", v.location, v.epoch);
    for s in &v.stock {
        let _ = write!(t, "\n  {:<10} {} {:>6}", s.bin, s.gtin, s.on_hand);
    }
    for e in &v.exceptions {
        let state = if e.is_open() { "OPEN" } else { "resolved" };
        let _ = write!(t, "\n  {state:<8} {}", e.id);
    }
    reply(v, t)
}

pub fn route(v: &RouteView) -> Reply {
    let mut t =
        format!("route {} ({} on {}): {}/{} stops done", v.id, v.driver, v.van, v.done, v.stops.len());
    for s in &v.stops {
        let _ = write!(
            t,
            "\n  stop {} {:?}: {} package(s), {} delivered",
            s.seq,
            s.state,
            s.packages.len(),
            s.delivered.len()
        );
    }
    reply(v, t)
}

pub fn exported(doc: &DocId, out: &Path, view: Option<&Path>, bytes: usize) -> Reply {
    let json = serde_json::json!({ "doc": doc.to_string(), "file": out, "view": view, "bytes": bytes });
    let mut text = format!("wrote {doc} to {} ({bytes} bytes)", out.display());
    if let Some(v) = view {
        let _ = write!(text, ", view to {}", v.display());
    }
    Reply { json, text }
}

pub fn evicted(gone: &[DocId]) -> Reply {
    let ids: Vec<String> = gone.iter().map(ToString::to_string).collect();
    let text =
        if ids.is_empty() { "nothing to evict".to_owned() } else { format!("evicted {}", ids.join(", ")) };
    reply(&ids, text)
}

pub fn merged(docs: &[DocId]) -> Reply {
    let ids: Vec<String> = docs.iter().map(ToString::to_string).collect();
    let text = format!("merged {}", ids.join(", "));
    reply(&ids, text)
}

pub fn synced(r: &SyncReport) -> Reply {
    let mut text = format!(
        "synced {} of {} document(s) in scope ({} new), {} blob(s) uploaded, {} event(s) still pending",
        r.synced, r.in_scope, r.new_documents, r.blobs_uploaded, r.pending_events
    );
    for (change, refusal) in &r.refused {
        let _ = write!(text, "\nrefused {change}: {refusal}");
    }
    for (doc, why) in &r.failed {
        let _ = write!(text, "\nnot synced {doc}: {why}");
    }
    reply(r, text)
}
