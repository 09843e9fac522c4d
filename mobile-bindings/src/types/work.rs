//! Who the device is and its work: the role's task list, what a scan
//! means here, and the events it records.

use std::time::SystemTime;

use waybill_agent as agent;
use waybill_shared::event::Event;

use super::views::{OrderStatus, Package, Stop, Whereabouts};
use super::{LineQuantity, all, mirror_enum};

mirror_enum!(
    /// A device's role.
    Role = waybill_shared::role::Role {
        /// Warehouse handheld working pick lists; also receives, moves and
        /// counts stock.
        Picker,
        /// Handheld or pack station packing picked lines into packages.
        Packer,
        /// A driver's phone: loads, delivers, records proof and returns.
        Driver,
        /// The office.
        Office,
    }
);

/// Who this device is.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceProfile {
    /// The device's id.
    pub device: String,
    /// Its role.
    pub role: Role,
    /// The location it works at (pickers, packers).
    pub location: Option<String>,
    /// The person signed in.
    pub user: Option<String>,
}

impl From<agent::Profile> for DeviceProfile {
    fn from(p: agent::Profile) -> Self {
        Self {
            device: p.device.to_string(),
            role: p.role.into(),
            location: p.location.map(|l| l.to_string()),
            user: p.user,
        }
    }
}

/// An event this device recorded: durable on the device when the call
/// returns, and synced when there is a link.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Recorded {
    /// The event's id, unique in the fleet (`<device>:<sequence>`).
    pub id: String,
    /// What it records (`picked`, `delivered`, ...).
    pub kind: String,
    /// When, by the device's clock.
    pub at: SystemTime,
}

impl From<Event> for Recorded {
    fn from(e: Event) -> Self {
        Self { id: e.id.to_string(), kind: e.payload.name().to_owned(), at: e.at.into() }
    }
}

/// One line to pick.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PickTask {
    /// The order.
    pub order: String,
    /// The line.
    pub line: u32,
    /// The item (GTIN).
    pub gtin: String,
    /// What it is.
    pub description: String,
    /// Units still to pick.
    pub remaining: u32,
    /// The first bin on the walk that holds the item, if any does.
    pub bin: Option<String>,
    /// That bin's place on the walk.
    pub walk: Option<u32>,
}

impl From<agent::PickTask> for PickTask {
    fn from(t: agent::PickTask) -> Self {
        Self {
            order: t.order.to_string(),
            line: t.line,
            gtin: t.gtin.to_string(),
            description: t.description,
            remaining: t.remaining,
            bin: t.bin.map(|b| b.to_string()),
            walk: t.walk,
        }
    }
}

/// One order waiting to be packed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PackTask {
    /// The order.
    pub order: String,
    /// Picked units not yet packed, per line.
    pub lines: Vec<LineQuantity>,
    /// Packages made so far.
    pub packages: Vec<Package>,
}

impl From<agent::PackTask> for PackTask {
    fn from(t: agent::PackTask) -> Self {
        Self { order: t.order.to_string(), lines: all(t.lines), packages: all(t.packages) }
    }
}

/// One stop of a driver's route, with what is to be delivered there.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct StopTask {
    /// The stop.
    pub stop: Stop,
    /// The packages of the stop's orders, with where they are.
    pub parcels: Vec<Package>,
}

impl From<agent::StopTask> for StopTask {
    fn from(t: agent::StopTask) -> Self {
        Self { stop: t.stop.into(), parcels: all(t.parcels) }
    }
}

/// A driver's route.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RouteTask {
    /// The route.
    pub route: String,
    /// Stops in sequence.
    pub stops: Vec<StopTask>,
    /// The first stop not finished.
    pub next_stop: Option<u32>,
}

impl From<agent::RouteTask> for RouteTask {
    fn from(t: agent::RouteTask) -> Self {
        Self { route: t.route.to_string(), stops: all(t.stops), next_stop: t.next_stop }
    }
}

/// A role's work list.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Tasks {
    /// A picker's picks, in bin-walk order.
    Picker {
        /// The picks.
        picks: Vec<PickTask>,
    },
    /// A packer's queue.
    Packer {
        /// Orders with picked units not yet packed.
        orders: Vec<PackTask>,
    },
    /// A driver's routes.
    Driver {
        /// The routes.
        routes: Vec<RouteTask>,
    },
    /// The office has no device work list.
    Office,
}

impl From<agent::Tasks> for Tasks {
    fn from(t: agent::Tasks) -> Self {
        match t {
            agent::Tasks::Picker(p) => Self::Picker { picks: all(p) },
            agent::Tasks::Packer(p) => Self::Packer { orders: all(p) },
            agent::Tasks::Driver(r) => Self::Driver { routes: all(r) },
            agent::Tasks::Office => Self::Office,
        }
    }
}

/// An item as scanned: the GTIN and whatever else the barcode carried.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ItemScan {
    /// The item (GTIN).
    pub gtin: String,
    /// Batch or lot.
    pub lot: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Expiry date (ISO 8601).
    pub expiry: Option<String>,
    /// Units the label stands for (a case's count, AI 37); none: one.
    pub count: Option<u32>,
}

impl From<agent::ItemScan> for ItemScan {
    fn from(item: agent::ItemScan) -> Self {
        Self {
            gtin: item.gtin.to_string(),
            lot: item.lot,
            serial: item.serial,
            expiry: item.expiry.map(|d| d.to_string()),
            count: item.count,
        }
    }
}

/// What a scanned code is, on this device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Scanned {
    /// A bin label.
    Bin {
        /// Its location.
        location: String,
        /// The bin.
        bin: String,
        /// Whether the bin is in this device's location.
        here: bool,
        /// This device's picks from that bin.
        picks: Vec<PickTask>,
    },
    /// An item.
    Item {
        /// What was scanned.
        item: ItemScan,
        /// This device's picks of that item.
        picks: Vec<PickTask>,
    },
    /// A package label.
    Package {
        /// The package (SSCC).
        sscc: String,
        /// The item the label also names (a GTIN beside the SSCC), with its count.
        item: Option<ItemScan>,
        /// The order it belongs to, if held here.
        order: Option<String>,
        /// Where it is, if known.
        whereabouts: Option<Whereabouts>,
    },
    /// An order label.
    Order {
        /// The order.
        order: String,
        /// Its status, if held here.
        status: Option<OrderStatus>,
    },
    /// A route label.
    Route {
        /// The route.
        route: String,
        /// Whether it is held here.
        held: bool,
    },
}

impl From<agent::Scanned> for Scanned {
    fn from(s: agent::Scanned) -> Self {
        use agent::Scanned as S;
        match s {
            S::Bin { location, bin, here, picks } => {
                Self::Bin { location: location.to_string(), bin: bin.to_string(), here, picks: all(picks) }
            }
            S::Item { item, picks } => Self::Item { item: item.into(), picks: all(picks) },
            S::Package { sscc, item, order, whereabouts } => Self::Package {
                sscc: sscc.to_string(),
                item: item.map(ItemScan::from),
                order: order.map(|o| o.to_string()),
                whereabouts: whereabouts.map(Whereabouts::from),
            },
            S::Order { order, status } => {
                Self::Order { order: order.to_string(), status: status.map(OrderStatus::from) }
            }
            S::Route { route, held } => Self::Route { route: route.to_string(), held },
        }
    }
}
