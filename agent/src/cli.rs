//! The `waybill-agent` command line: one subcommand per agent operation,
//! human-readable output by default and `--json` for scripts.

pub mod output;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde::de::DeserializeOwned;
use waybill_shared::doc::DocId;
use waybill_shared::doc::payment::Currency;
use waybill_shared::event::delivery::{FailReason, Gps, Relation};
use waybill_shared::event::payment::CollectionMethod;
use waybill_shared::event::returns::Disposition;
use waybill_shared::event::stock::AdjustReason;
use waybill_shared::event::warehouse::{Dimensions, ShortReason};
use waybill_shared::id::{DeviceId, LocationId, OrderId, RouteId};
use waybill_shared::role::Role;

/// A Waybill handheld: works offline against a local store.
#[derive(Debug, Parser)]
#[command(name = "waybill-agent", version, about)]
pub struct Cli {
    /// The device store (a SQLite file).
    #[arg(long, env = "WAYBILL_STORE", default_value = "waybill-agent.db", global = true)]
    pub store: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Set up a new device store.
    Init {
        /// The device's id.
        #[arg(long)]
        device: DeviceId,
        /// picker, packer, driver or office.
        #[arg(long)]
        role: Role,
        /// The location the device works at (pickers, packers).
        #[arg(long)]
        location: Option<LocationId>,
        /// The person signed in.
        #[arg(long)]
        user: Option<String>,
    },
    /// Enrol this device with a sync server (creates the store).
    Enrol {
        /// The server's address, host:port.
        #[arg(long)]
        server: std::net::SocketAddr,
        /// The one-time code from the office.
        #[arg(long)]
        code: String,
        /// The server fingerprint from the office.
        #[arg(long)]
        fingerprint: String,
    },
    /// Sync with the server: once, or stay connected (--watch) and keep
    /// syncing, reconnecting with backoff.
    Sync {
        /// Keep syncing until interrupted.
        #[arg(long)]
        watch: bool,
        /// Seconds to wait for a server that says nothing before calling
        /// the device offline.
        #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
        timeout: u64,
    },
    /// Load orders, locations and routes from a seed file (JSON).
    Import {
        /// The seed file.
        file: PathBuf,
    },
    /// Role, pending events, last sync.
    Status,
    /// The server addresses this device syncs with; given addresses, sets
    /// them (a server of several nodes: the first is tried first, the next
    /// when it does not answer).
    Servers {
        /// host:port of each node.
        addresses: Vec<std::net::SocketAddr>,
    },
    /// This device's work list.
    Tasks,
    /// Tell what a scanned code is here.
    Scan {
        /// The code as the scanner sent it.
        code: String,
    },
    /// Pick units of an order line from a bin.
    Pick {
        /// The order's id.
        #[arg(long)]
        order: OrderId,
        /// The order line's number.
        #[arg(long)]
        line: u32,
        /// Bin label scanned (or bin id).
        #[arg(long)]
        bin: String,
        /// Item barcode scanned.
        #[arg(long)]
        item: String,
        /// Units, or cases if the item label carries a count (37).
        #[arg(long)]
        qty: u32,
        /// Supervisor override: allow more than the line needs, with this reason.
        #[arg(long = "override")]
        override_reason: Option<String>,
    },
    /// Report units of a line missing from a bin.
    ShortPick {
        /// The order's id.
        #[arg(long)]
        order: OrderId,
        /// The order line's number.
        #[arg(long)]
        line: u32,
        /// Bin label scanned (or bin id).
        #[arg(long)]
        bin: String,
        /// How many units.
        #[arg(long)]
        qty: u32,
        /// not-enough-in-bin, not-found, damaged or expired.
        #[arg(long, value_parser = word::<ShortReason>)]
        reason: ShortReason,
    },
    /// Put picked units back into a bin.
    PutBack {
        /// The order's id.
        #[arg(long)]
        order: OrderId,
        /// The order line's number.
        #[arg(long)]
        line: u32,
        /// Bin label scanned (or bin id).
        #[arg(long)]
        bin: String,
        /// Item barcode scanned (GTIN).
        #[arg(long)]
        item: String,
        /// How many units.
        #[arg(long)]
        qty: u32,
    },
    /// Pack picked units into a package.
    Pack {
        /// The order's id.
        #[arg(long)]
        order: OrderId,
        /// Package label (SSCC) scanned.
        #[arg(long)]
        package: String,
        /// LINE:QTY, repeatable.
        #[arg(long = "line", value_parser = line_qty, required = true)]
        lines: Vec<(u32, u32)>,
        /// The package's weight in grams.
        #[arg(long)]
        weight_g: Option<u32>,
        /// LxWxH in millimetres.
        #[arg(long, value_parser = dims)]
        dims: Option<Dimensions>,
    },
    /// Close a package.
    Close {
        /// The order's id.
        #[arg(long)]
        order: OrderId,
        /// Package label (SSCC) scanned.
        #[arg(long)]
        package: String,
        /// The package's weight in grams.
        #[arg(long)]
        weight_g: Option<u32>,
    },
    /// Put a closed package in a staging lane.
    Stage {
        /// The order's id.
        #[arg(long)]
        order: OrderId,
        /// Package label (SSCC) scanned.
        #[arg(long)]
        package: String,
        /// The staging lane.
        #[arg(long)]
        area: String,
    },
    /// Load a package on the van of a route.
    Load {
        /// The route's id.
        #[arg(long)]
        route: RouteId,
        /// Package label (SSCC) scanned.
        #[arg(long)]
        package: String,
    },
    /// Leave the depot with what is loaded.
    Out {
        /// The route's id.
        #[arg(long)]
        route: RouteId,
    },
    /// Arrive at a stop.
    Arrive {
        /// The route's id.
        #[arg(long)]
        route: RouteId,
        /// The stop's number on the route.
        #[arg(long)]
        stop: u32,
        /// LAT,LON
        #[arg(long, value_parser = gps)]
        gps: Option<Gps>,
    },
    /// Deliver with proof.
    Deliver {
        /// The route's id.
        #[arg(long)]
        route: RouteId,
        /// The stop's number on the route.
        #[arg(long)]
        stop: u32,
        /// Package labels handed over (default: all of the stop's on the van).
        #[arg(long = "package")]
        packages: Vec<String>,
        /// Who took it.
        #[arg(long)]
        recipient: Option<String>,
        /// recipient, neighbour, safe-place or mailbox.
        #[arg(long, value_parser = word::<Relation>, default_value = "recipient")]
        relation: Relation,
        /// Where it was left.
        #[arg(long)]
        left_at: Option<String>,
        /// Photo file.
        #[arg(long)]
        photo: Option<PathBuf>,
        /// Signature image file.
        #[arg(long)]
        signature: Option<PathBuf>,
        /// Where, as LAT,LON.
        #[arg(long, value_parser = gps)]
        gps: Option<Gps>,
        /// A note for the office.
        #[arg(long, default_value = "")]
        note: String,
        /// The recipient passed the age check.
        #[arg(long)]
        age_ok: bool,
        /// Money taken at the door, in minor units (cents): an order paid on
        /// delivery needs it while anything is due. Give --currency too.
        #[arg(long, requires = "currency")]
        collect: Option<u64>,
        /// The currency of --collect (ISO 4217, such as EUR).
        #[arg(long, requires = "collect")]
        currency: Option<Currency>,
        /// How --collect was paid: cash or card.
        #[arg(long, value_parser = word::<CollectionMethod>, default_value = "cash")]
        method: CollectionMethod,
    },
    /// A delivery attempt failed.
    Fail {
        /// The route's id.
        #[arg(long)]
        route: RouteId,
        /// The stop's number on the route.
        #[arg(long)]
        stop: u32,
        /// not-home, refused, address-not-found, no-access, age-check-failed or damaged.
        #[arg(long, value_parser = word::<FailReason>)]
        reason: FailReason,
        /// A note for the office.
        #[arg(long, default_value = "")]
        note: String,
        /// Where, as LAT,LON.
        #[arg(long, value_parser = gps)]
        gps: Option<Gps>,
    },
    /// Take an undelivered package off the van at the depot.
    ReturnToDepot {
        /// The route's id.
        #[arg(long)]
        route: RouteId,
        /// Package label (SSCC) scanned.
        #[arg(long)]
        package: String,
    },
    /// Receive goods a customer returned.
    ReceiveReturn {
        /// The order's id.
        #[arg(long)]
        order: OrderId,
        /// LINE:QTY, repeatable.
        #[arg(long = "line", value_parser = line_qty, required = true)]
        lines: Vec<(u32, u32)>,
        /// restock or damaged.
        #[arg(long, value_parser = word::<Disposition>)]
        disposition: Disposition,
        /// Bin for restocked goods.
        #[arg(long)]
        bin: Option<String>,
        /// The return authorisation (RMA) number.
        #[arg(long)]
        rma: Option<String>,
    },
    /// Receive stock into a bin.
    Receive {
        /// Bin label scanned (or bin id).
        #[arg(long)]
        bin: String,
        /// Item barcode scanned (GTIN).
        #[arg(long)]
        item: String,
        /// How many units.
        #[arg(long)]
        qty: u32,
    },
    /// Move stock from one bin to another.
    PutAway {
        /// The bin it comes from.
        #[arg(long)]
        from: String,
        /// The bin it goes to.
        #[arg(long)]
        to: String,
        /// Item barcode scanned (GTIN).
        #[arg(long)]
        item: String,
        /// How many units.
        #[arg(long)]
        qty: u32,
    },
    /// Count a bin.
    Count {
        /// Bin label scanned (or bin id).
        #[arg(long)]
        bin: String,
        /// Item barcode scanned (GTIN).
        #[arg(long)]
        item: String,
        /// Units counted in the bin.
        #[arg(long)]
        counted: i64,
    },
    /// Adjust stock in a bin.
    Adjust {
        /// Bin label scanned (or bin id).
        #[arg(long)]
        bin: String,
        /// Item barcode scanned (GTIN).
        #[arg(long)]
        item: String,
        /// Units to add (negative: to take away).
        #[arg(long, allow_hyphen_values = true)]
        delta: i64,
        /// damaged, lost, found, expired or correction.
        #[arg(long, value_parser = word::<AdjustReason>)]
        reason: AdjustReason,
    },
    /// Sell units from a bin out of this device's quota (a van sale at the
    /// door, a walk-in order): works offline, refused beyond the quota.
    #[command(alias = "van-sale")]
    Sell {
        /// Bin label scanned (or bin id) at this device's location.
        #[arg(long)]
        bin: String,
        /// Item barcode scanned (GTIN).
        #[arg(long)]
        item: String,
        /// Units, or cases if the item label carries a count (37).
        #[arg(long)]
        qty: u32,
        /// Who bought.
        #[arg(long)]
        customer: Option<String>,
    },
    /// This device's quotas: what it may still promise, per item.
    Quota,
    /// Hand unused quota back to the location's free stock.
    QuotaRelease {
        /// Item barcode scanned (GTIN).
        #[arg(long)]
        item: String,
        /// Units to hand back.
        #[arg(long)]
        qty: u32,
    },
    /// An order's merged view and its exceptions.
    Order {
        /// The order's id.
        id: OrderId,
    },
    /// A location's stock (default: this device's).
    Stock {
        /// The location's id (default: this device's).
        location: Option<LocationId>,
    },
    /// A route's stops and progress.
    Route {
        /// The route's id.
        id: RouteId,
    },
    /// Write a document as a plain .automerge file, and its view as JSON.
    Export {
        /// order/<id>, location/<id>/<epoch> or route/<id>.
        doc: DocId,
        /// Where to write the .automerge file.
        #[arg(long)]
        out: PathBuf,
        /// Where to write the view.
        #[arg(long)]
        view: Option<PathBuf>,
    },
    /// Merge documents exported by another device or the office (.automerge
    /// files): sync by hand while there is no link.
    Merge {
        /// The files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Drop closed orders the server holds in full.
    Evict,
    /// The documents this device holds, and which have work not yet synced.
    Docs,
    /// Run commands read from standard input, one per line, on one open
    /// store; print each result as it is durable.
    Run,
}

/// Parses a word of a serde enum, accepting `-` for `_`.
fn word<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.replace('-', "_"))).map_err(|e| e.to_string())
}

fn line_qty(s: &str) -> Result<(u32, u32), String> {
    let (l, q) = s.split_once(':').ok_or("expected LINE:QTY, e.g. 1:2")?;
    Ok((l.parse().map_err(|_| "line must be a number")?, q.parse().map_err(|_| "quantity must be a number")?))
}

fn dims(s: &str) -> Result<Dimensions, String> {
    let n: Vec<u32> =
        s.split('x').map(str::parse).collect::<Result<_, _>>().map_err(|_| "expected LxWxH in mm")?;
    match n.as_slice() {
        [length_mm, width_mm, height_mm] => {
            Ok(Dimensions { length_mm: *length_mm, width_mm: *width_mm, height_mm: *height_mm })
        }
        _ => Err("expected LxWxH in mm, e.g. 300x200x150".into()),
    }
}

fn gps(s: &str) -> Result<Gps, String> {
    let (lat, lon) = s.split_once(',').ok_or("expected LAT,LON")?;
    let lat: f64 = lat.trim().parse().map_err(|_| "latitude must be a number")?;
    let lon: f64 = lon.trim().parse().map_err(|_| "longitude must be a number")?;
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err("latitude must be within ±90 and longitude within ±180".into());
    }
    Ok(Gps { lat, lon, accuracy_m: None })
}
