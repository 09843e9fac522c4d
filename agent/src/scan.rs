//! What a scan means here: one code from the scanner, read with the shared
//! GS1 parser and looked up against what this device holds, so a UI can act
//! on a single scan.
//!
//! Dates on barcodes have two-digit years; they are read in the device's
//! current year (GS1's century window), taken from its clock here, since the
//! shared parser has none. A count of trade items (37) travels with the item:
//! where a quantity counts what was scanned (a pick, a put-back, a receipt, a
//! put-away), a label carrying a count stands for that many units.

use chrono::{Datelike, NaiveDate, Utc};
use serde::Serialize;
use waybill_shared::doc::{self, DocId};
use waybill_shared::fold::OrderStatus;
use waybill_shared::fold::order::Whereabouts;
use waybill_shared::gs1::{Code, ElementString, Gs1Error, Gtin, Label, Sscc, parse_code};
use waybill_shared::id::{BinId, LocationId, OrderId, RouteId};

use crate::agent::Agent;
use crate::error::AgentError;
use crate::tasks::PickTask;

/// An item as scanned: the GTIN and whatever else the barcode carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemScan {
    /// The item.
    pub gtin: Gtin,
    /// Batch or lot.
    pub lot: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Expiry date.
    pub expiry: Option<NaiveDate>,
    /// Units the label stands for (a case's count of trade items, AI 37);
    /// `None`: one.
    pub count: Option<u32>,
}

impl ItemScan {
    /// A bare GTIN: one unit, nothing else known.
    fn of(gtin: Gtin) -> Self {
        Self { gtin, lot: None, serial: None, expiry: None, count: None }
    }

    /// The item an element string names, if it carries a GTIN (01); its
    /// expiry date read in `current_year`.
    fn from_element(e: &ElementString, current_year: i32) -> Result<Option<Self>, Gs1Error> {
        let Some(gtin) = e.gtin.clone() else { return Ok(None) };
        Ok(Some(Self {
            gtin,
            lot: e.lot.clone(),
            serial: e.serial.clone(),
            expiry: e.expiry_in(current_year)?,
            count: e.count,
        }))
    }

    /// Units in `quantity` scans of this label: `quantity` times its count.
    pub fn units(&self, quantity: u32) -> Result<u32, AgentError> {
        let count = self.count.unwrap_or(1);
        if count == 0 {
            return Err(AgentError::Invalid(format!("the label of {} counts 0 units", self.gtin)));
        }
        quantity.checked_mul(count).ok_or_else(|| {
            AgentError::Invalid(format!("{quantity} labels of {count} units each is too many to record"))
        })
    }
}

/// The year dates on barcodes are read in.
fn current_year() -> i32 {
    Utc::now().year()
}

/// What a scanned code is, in this device's context.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Scanned {
    /// A bin label.
    Bin {
        /// Its location.
        location: LocationId,
        /// The bin.
        bin: BinId,
        /// Whether the bin is in this device's location.
        here: bool,
        /// This device's picks from that bin.
        picks: Vec<PickTask>,
    },
    /// An item.
    Item {
        /// What was scanned.
        #[serde(flatten)]
        item: ItemScan,
        /// This device's picks of that item.
        picks: Vec<PickTask>,
    },
    /// A package label.
    Package {
        /// The package.
        sscc: Sscc,
        /// The item the label also names (a GTIN (01) beside the SSCC),
        /// with its count.
        item: Option<ItemScan>,
        /// The order it belongs to, if held here.
        order: Option<OrderId>,
        /// Where it is, if known.
        whereabouts: Option<Whereabouts>,
    },
    /// An order label.
    Order {
        /// The order.
        order: OrderId,
        /// Its status, if held here.
        status: Option<OrderStatus>,
    },
    /// A route label.
    Route {
        /// The route.
        route: RouteId,
        /// Whether it is held here.
        held: bool,
    },
}

impl Agent {
    /// Tells what `code` is here.
    pub fn scan(&mut self, code: &str) -> Result<Scanned, AgentError> {
        Ok(match parse_code(code)? {
            Code::Label(Label::Bin { location, bin }) => {
                let here = self.profile().location.as_ref() == Some(&location);
                let picks = self.pick_list()?.into_iter().filter(|t| t.bin.as_ref() == Some(&bin)).collect();
                Scanned::Bin { location, bin, here, picks }
            }
            Code::Label(Label::Order(order)) => {
                let status = self.order_view(&order).ok().map(|v| v.status);
                Scanned::Order { order, status }
            }
            Code::Label(Label::Route(route)) => {
                let held = self.documents()?.contains(&DocId::Route(route.clone()));
                Scanned::Route { route, held }
            }
            Code::Sscc(sscc) => self.package_scanned(sscc, None)?,
            Code::Gtin(gtin) => self.item_scanned(ItemScan::of(gtin))?,
            Code::Element(e) => match (e.sscc.clone(), ItemScan::from_element(&e, current_year())?) {
                (Some(sscc), item) => self.package_scanned(sscc, item)?,
                (None, Some(item)) => self.item_scanned(item)?,
                (None, None) => {
                    return Err(AgentError::WrongScan {
                        expected: "an item or package",
                        scanned: code.into(),
                    });
                }
            },
        })
    }

    fn package_scanned(&mut self, sscc: Sscc, item: Option<ItemScan>) -> Result<Scanned, AgentError> {
        let (order, whereabouts) = match self.find_package(&sscc)? {
            Some((order, w)) => (Some(order), Some(w)),
            None => (None, None),
        };
        Ok(Scanned::Package { sscc, item, order, whereabouts })
    }

    fn item_scanned(&mut self, item: ItemScan) -> Result<Scanned, AgentError> {
        let picks = self.pick_list()?.into_iter().filter(|t| t.gtin == item.gtin).collect();
        Ok(Scanned::Item { item, picks })
    }

    /// The order holding a package, and where the package is.
    pub(crate) fn find_package(&mut self, sscc: &Sscc) -> Result<Option<(OrderId, Whereabouts)>, AgentError> {
        for id in self.documents()? {
            let DocId::Order(order) = id else { continue };
            let view = self.order_view(&order)?;
            if let Some(p) = view.packages.into_iter().find(|p| &p.sscc == sscc) {
                return Ok(Some((order, p.whereabouts)));
            }
        }
        Ok(None)
    }

    /// Reads a bin scan: a `WB:BIN:` label, or a bare bin id, at this
    /// device's location.
    pub(crate) fn scan_bin(&mut self, code: &str) -> Result<(LocationId, BinId), AgentError> {
        let location = self.profile().location.clone().ok_or_else(|| {
            AgentError::Invalid("this device has no location: initialise it with one to work bins".into())
        })?;
        let bin = match parse_code(code) {
            Ok(Code::Label(Label::Bin { location: at, bin })) if at == location => bin,
            Ok(Code::Label(Label::Bin { location: at, .. })) => {
                return Err(AgentError::WrongScan {
                    expected: "a bin at this location",
                    scanned: format!("a bin at {at}"),
                });
            }
            Ok(_) => return Err(AgentError::WrongScan { expected: "a bin label", scanned: code.into() }),
            Err(Gs1Error::Unrecognised(_)) => code
                .trim()
                .parse::<BinId>()
                .map_err(|_| AgentError::WrongScan { expected: "a bin label", scanned: code.into() })?,
            Err(e) => return Err(e.into()),
        };
        let id = self
            .location_doc(&location)?
            .ok_or_else(|| AgentError::NotFound { what: "location", id: location.to_string() })?;
        let header = doc::location::read(self.doc(&id)?.document())?.header;
        if !header.bins.iter().any(|b| b.id == bin) {
            return Err(AgentError::NotFound { what: "bin", id: format!("{bin} at {location}") });
        }
        Ok((location, bin))
    }

    /// Reads an item scan: a GTIN or an element string carrying (01).
    pub(crate) fn scan_item(&self, code: &str) -> Result<ItemScan, AgentError> {
        let item = match parse_code(code)? {
            Code::Gtin(gtin) => Some(ItemScan::of(gtin)),
            Code::Element(e) => ItemScan::from_element(&e, current_year())?,
            _ => None,
        };
        item.ok_or_else(|| AgentError::WrongScan { expected: "an item (GTIN)", scanned: code.into() })
    }

    /// Reads a package scan: an SSCC or an element string carrying (00).
    pub(crate) fn scan_package(&self, code: &str) -> Result<Sscc, AgentError> {
        match parse_code(code)? {
            Code::Sscc(sscc) | Code::Element(ElementString { sscc: Some(sscc), .. }) => Ok(sscc),
            _ => Err(AgentError::WrongScan { expected: "a package label (SSCC)", scanned: code.into() }),
        }
    }
}
