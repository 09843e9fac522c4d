//! What the CLI prints: every reply has a JSON form (`--json`) and a short
//! text form for people.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use waybill_agent::{Imported, Scanned, Status, SyncReport, Tasks};
use waybill_shared::doc::DocId;
use waybill_shared::event::Event;
use waybill_shared::fold::order::Whereabouts;
use waybill_shared::fold::quota::Quota;
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

/// A word of a serde enum, as a person reads it: `out_for_delivery` is
/// "out for delivery".
fn word<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s.replace('_', " "),
        Ok(other) => other.to_string(),
        Err(_) => "?".to_owned(),
    }
}

/// Where a package is, in words.
fn whereabouts(w: &Whereabouts) -> String {
    match w {
        Whereabouts::Packing => "being packed".to_owned(),
        Whereabouts::Closed => "closed, at the pack station".to_owned(),
        Whereabouts::Staged { area } => format!("staged in {area}"),
        Whereabouts::OnVan { van, route } => format!("on van {van} for route {route}"),
        Whereabouts::Delivered => "delivered".to_owned(),
        Whereabouts::AttemptFailed { reason } => {
            format!("on the van after a failed attempt ({})", word(reason))
        }
        Whereabouts::AtDepot => "back at the depot".to_owned(),
    }
}

/// An event just recorded, with the documents it went to: the JSON is the
/// event with `order` (and `route`, `location`) added where it names one.
pub fn event(e: &Event, docs: &[DocId]) -> Reply {
    let mut json = serde_json::to_value(e).unwrap_or(serde_json::Value::Null);
    let mut about = Vec::new();
    for d in docs {
        let (key, id) = match d {
            DocId::Order(o) => ("order", o.to_string()),
            DocId::Route(r) => ("route", r.to_string()),
            DocId::Location { id, .. } => ("location", id.to_string()),
        };
        if let Some(obj) = json.as_object_mut() {
            obj.entry(key).or_insert_with(|| serde_json::Value::from(id.clone()));
        }
        about.push(format!("{key} {id}"));
    }
    let on = if about.is_empty() { String::new() } else { format!(" on {}", about.join(", ")) };
    let text = format!("recorded {} {}{on} at {}", e.payload.name(), e.id, e.at.format("%Y-%m-%d %H:%M:%S"));
    Reply { json, text }
}

/// Several events of one command (one per order): `{ "events": [...] }`
/// and what they were about.
pub fn events(es: &[(Event, Vec<DocId>)], about: serde_json::Value) -> Reply {
    let replies: Vec<Reply> = es.iter().map(|(e, docs)| event(e, docs)).collect();
    let text = replies.iter().map(|r| r.text.as_str()).collect::<Vec<_>>().join("\n");
    let mut json = about;
    if let Some(obj) = json.as_object_mut() {
        obj.insert("events".into(), replies.into_iter().map(|r| r.json).collect());
    }
    Reply { json, text }
}

/// The documents a device holds, and which have work not yet synced.
pub fn documents(all: &[DocId], unsynced: &[DocId]) -> Reply {
    let rows: Vec<serde_json::Value> = all
        .iter()
        .map(|d| serde_json::json!({ "doc": d.to_string(), "unsynced": unsynced.contains(d) }))
        .collect();
    let text = if all.is_empty() {
        "no documents yet: sync, import or merge some".to_owned()
    } else {
        let mut t = format!("{} document(s), {} with events not yet synced:", all.len(), unsynced.len());
        for d in all {
            let mark = if unsynced.contains(d) { "  (not yet synced)" } else { "" };
            let _ = write!(t, "\n  {d}{mark}");
        }
        t
    };
    Reply { json: serde_json::Value::Array(rows), text }
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
    for (hash, why) in &s.failed_blobs {
        let _ = write!(t, "\nblob {hash} will not be uploaded: {why}");
    }
    reply(s, t)
}

pub fn imported(i: &Imported) -> Reply {
    reply(i, format!("imported {} document(s), {} already held", i.created.len(), i.skipped.len()))
}

pub fn tasks(tasks: &Tasks) -> Reply {
    let mut t = String::new();
    match tasks {
        Tasks::Picker(picks) => {
            if picks.is_empty() {
                t.push_str("nothing to pick: sync to get your pick list");
            } else {
                let _ = writeln!(t, "{} pick(s), in walk order:", picks.len());
            }
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
            if queue.is_empty() {
                t.push_str("nothing to pack: sync to get picked orders");
            } else {
                let _ = writeln!(t, "{} order(s) to pack:", queue.len());
            }
            for p in queue {
                let lines: Vec<String> = p.lines.iter().map(|(l, q)| format!("line {l}: {q}")).collect();
                let _ = writeln!(t, "  {}: {}", p.order, lines.join(", "));
            }
        }
        Tasks::Driver(routes) => {
            if routes.is_empty() {
                t.push_str("no routes on this device: sync to get yours");
            }
            for r in routes {
                let next = r.next_stop.map_or("done".to_owned(), |s| format!("next stop {s}"));
                let _ = writeln!(t, "route {} ({next}):", r.route);
                for s in &r.stops {
                    let orders: Vec<String> = s.stop.orders.iter().map(ToString::to_string).collect();
                    let _ = writeln!(
                        t,
                        "  stop {} {}: {} — {}, {} package(s)",
                        s.stop.seq,
                        word(&s.stop.state),
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
        Scanned::Package { sscc, item, order, whereabouts: w } => {
            let content =
                item.as_ref().map_or(String::new(), |i| format!(" holding {}{}", i.gtin, units(i.count)));
            match (order, w) {
                (Some(o), Some(w)) => format!("package {sscc}{content} of order {o}: {}", whereabouts(w)),
                (Some(o), None) => format!("package {sscc}{content} of order {o}"),
                (None, _) => format!("package {sscc}{content}, not on this device"),
            }
        }
        Scanned::Order { order, status } => match status {
            Some(s) => format!("order {order}: {}", word(s)),
            None => format!("order {order}, not on this device"),
        },
        Scanned::Route { route, held } => {
            format!("route {route}{}", if *held { "" } else { ", not on this device" })
        }
    };
    reply(s, text)
}

pub fn order(v: &OrderView) -> Reply {
    let mut t = format!("order {} for {}: {}", v.header.id, v.header.customer, word(&v.status));
    let a = &v.ship_to;
    let _ = write!(t, "\nship to: {}, {}, {} {}", a.name, a.line1, a.postcode, a.city);
    let _ = write!(t, "\npayment: {}, {}", word(&v.payment.terms.name()), word(&v.payment.state));
    if let (Some((due, currency)), Some(left)) =
        (v.header.payment.due_on_delivery(), v.payment.outstanding_minor)
    {
        let _ = write!(t, " ({} due, {} to collect)", currency.format(due), currency.format(left));
    }
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
        let _ = write!(t, "\npackage {}: {}", p.sscc, whereabouts(&p.whereabouts));
    }
    for p in &v.proofs {
        let who = p.proof.recipient_name.as_deref().unwrap_or("-");
        let _ = write!(
            t,
            "\nproof {}: {} {who} at {}",
            p.event,
            word(&p.proof.relation),
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
    if v.stock.is_empty() {
        t.push_str(" none");
    } else {
        let _ = write!(t, "\n  {:<10} {:<14} {:>7}", "bin", "item", "on hand");
    }
    for s in &v.stock {
        let _ = write!(t, "\n  {:<10} {:<14} {:>7}", s.bin.to_string(), s.gtin.to_string(), s.on_hand);
    }
    for q in &v.quotas {
        let _ = write!(
            t,
            "\n  quota {} {}: {} left of {} granted",
            q.device,
            q.gtin,
            q.remaining,
            q.opening + q.granted
        );
    }
    for e in &v.exceptions {
        let state = if e.is_open() { "OPEN" } else { "resolved" };
        let _ = write!(t, "\n  {state:<8} {}", e.id);
    }
    reply(v, t)
}

/// This device's quotas.
pub fn quotas(qs: &[Quota]) -> Reply {
    let mut t = String::from("quotas:");
    if qs.is_empty() {
        t.push_str(" none: the server grants them when this device syncs");
    }
    for q in qs {
        let _ = write!(
            t,
            "\n  {}: {} left (granted {}, sold {}, handed back {})",
            q.gtin,
            q.remaining.max(0),
            q.opening + q.granted,
            q.sold,
            q.released
        );
    }
    Reply { json: serde_json::json!({ "quotas": qs }), text: t }
}

pub fn route(v: &RouteView) -> Reply {
    let mut t =
        format!("route {} ({} on {}): {}/{} stops done", v.id, v.driver, v.van, v.done, v.stops.len());
    for s in &v.stops {
        let _ = write!(
            t,
            "\n  stop {} {}: {} package(s), {} delivered",
            s.seq,
            word(&s.state),
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
    let text =
        if ids.is_empty() { "nothing merged".to_owned() } else { format!("merged {}", ids.join(", ")) };
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
    for (hash, why) in &r.blobs_failed {
        let _ = write!(text, "\nblob not uploaded {hash}: {why}");
    }
    for (doc, why) in &r.failed {
        let _ = write!(text, "\nnot synced {doc}: {why}");
    }
    reply(r, text)
}
