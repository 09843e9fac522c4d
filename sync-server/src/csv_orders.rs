//! Orders from a CSV file, as shops and ERPs export them: one row per order
//! line, the order's own columns repeated on each of its rows.
//!
//! The first row names the columns, in any order. Required: `order_id`,
//! `customer`, `name`, `line1`, `city`, `postcode`, `country`, `gtin`,
//! `quantity`. Optional: `line2`, `lat` and `lon` (both or neither),
//! `description`, `promised` (YYYY-MM-DD) with `slot_from` and `slot_to`
//! (HH:MM, both or neither: the promised slot), `location`, and `signature`,
//! `photo`, `age_check` (`true`/`false`, `yes`/`no`, `1`/`0`, or empty),
//! and `payment` (`prepaid`, `on_delivery` or `on_account`; empty is on
//! account) with, for `on_delivery`, `amount_minor` (the amount due in minor
//! units, such as cents) and `currency` (ISO 4217, such as EUR), and the
//! customer's `email` and `tracking_photo` (whether their tracking page may
//! show the delivery photo), kept on the server only.
//! Unknown columns are refused, so a misspelt column is not silently lost.
//! Lines are numbered 1, 2, … in row order within each order. An order's
//! rows must agree on the order's columns.
//!
//! Any error names the row (1 is the header, data starts at 2) and the
//! column, and nothing of the file is taken.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use waybill_shared::doc::order::{Address, OrderHeader, OrderLine, ProofRequired, Slot};
use waybill_shared::doc::payment::{Currency, PaymentTerms};
use waybill_shared::geo::Geo;
use waybill_shared::seed::{Seed, SeedOrder};

/// A CSV file that cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CsvError {
    /// Where: `row 3.quantity`, or `header`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

const REQUIRED: &[&str] =
    &["order_id", "customer", "name", "line1", "city", "postcode", "country", "gtin", "quantity"];
const OPTIONAL: &[&str] = &[
    "line2",
    "lat",
    "lon",
    "description",
    "promised",
    "slot_from",
    "slot_to",
    "location",
    "signature",
    "photo",
    "age_check",
    "payment",
    "amount_minor",
    "currency",
    "email",
    "tracking_photo",
];
/// Columns that belong to the line; every other belongs to the order, and
/// an order's rows must agree on it.
const LINE_COLUMNS: &[&str] = &["order_id", "gtin", "description", "quantity"];

fn error(field: impl Into<String>, message: impl Into<String>) -> CsvError {
    CsvError { field: field.into(), message: message.into() }
}

/// Reads the file into a seed of orders made at `now`.
pub fn parse(text: &str, now: DateTime<Utc>) -> Result<Seed, CsvError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| error("header", e.to_string()))?
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    for h in &header {
        if !REQUIRED.contains(&h.as_str()) && !OPTIONAL.contains(&h.as_str()) {
            return Err(error("header", format!("unknown column {h:?}")));
        }
    }
    for r in REQUIRED {
        if !header.iter().any(|h| h == r) {
            return Err(error("header", format!("the column {r:?} is missing")));
        }
    }
    let mut orders: Vec<SeedOrder> = Vec::new();
    // Per order id: its first row, that row's cells, and its place in `orders`.
    let mut first_row: BTreeMap<String, (usize, BTreeMap<String, String>, usize)> = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 2;
        let record = record.map_err(|e| error(format!("row {row}"), e.to_string()))?;
        let cells: BTreeMap<String, String> =
            header.iter().cloned().zip(record.iter().map(str::to_owned)).collect();
        let get = |c: &str| cells.get(c).map(String::as_str).unwrap_or("");
        let at = |c: &str| format!("row {row}.{c}");
        let id = get("order_id");
        let line = OrderLine {
            line: 0,
            gtin: get("gtin").parse().map_err(|e| error(at("gtin"), format!("{e}")))?,
            description: get("description").to_owned(),
            quantity: match get("quantity").parse::<u32>() {
                Ok(q) if q > 0 => q,
                _ => return Err(error(at("quantity"), "must be a whole number, at least 1")),
            },
        };
        if let Some((first, cols, index)) = first_row.get(id) {
            for c in REQUIRED.iter().chain(OPTIONAL).filter(|c| !LINE_COLUMNS.contains(c)) {
                if cols.get(*c).map(String::as_str).unwrap_or("") != get(c) {
                    return Err(error(at(c), format!("differs from row {first} of order {id}")));
                }
            }
            let order = &mut orders[*index];
            let mut line = line;
            line.line = order.header.lines.len() as u32 + 1;
            order.header.lines.push(line);
            continue;
        }
        let geo = match (get("lat"), get("lon")) {
            ("", "") => None,
            (lat, lon) => {
                let lat: f64 = lat.parse().map_err(|_| error(at("lat"), "must be a number of degrees"))?;
                let lon: f64 = lon.parse().map_err(|_| error(at("lon"), "must be a number of degrees"))?;
                Some(Geo::new(lat, lon).map_err(|e| error(at("lat"), e.to_string()))?)
            }
        };
        let flag = |c: &str| match get(c).to_ascii_lowercase().as_str() {
            "" | "false" | "no" | "0" => Ok(false),
            "true" | "yes" | "1" => Ok(true),
            other => Err(error(at(c), format!("{other:?} is not true or false"))),
        };
        let header = OrderHeader {
            id: id.parse().map_err(|e| error(at("order_id"), format!("{e}")))?,
            customer: get("customer").to_owned(),
            ship_to: Address {
                name: get("name").to_owned(),
                line1: get("line1").to_owned(),
                line2: get("line2").to_owned(),
                city: get("city").to_owned(),
                postcode: get("postcode").to_owned(),
                country: get("country").to_owned(),
                geo,
            },
            lines: vec![OrderLine { line: 1, ..line }],
            promised: match get("promised") {
                "" => None,
                d => Some(
                    NaiveDate::parse_from_str(d, "%Y-%m-%d")
                        .map_err(|_| error(at("promised"), "must be a date, YYYY-MM-DD"))?,
                ),
            },
            slot: match (get("slot_from"), get("slot_to")) {
                ("", "") => None,
                (from, to) => {
                    let time = |c: &str, t: &str| {
                        NaiveTime::parse_from_str(t, "%H:%M")
                            .map_err(|_| error(at(c), "must be a time, HH:MM"))
                    };
                    Some(Slot { from: time("slot_from", from)?, to: time("slot_to", to)? })
                }
            },
            location: match get("location") {
                "" => None,
                l => Some(l.parse().map_err(|e| error(at("location"), format!("{e}")))?),
            },
            proof: ProofRequired {
                signature: flag("signature")?,
                photo: flag("photo")?,
                age_check: flag("age_check")?,
            },
            payment: terms(get("payment"), get("amount_minor"), get("currency"), &at)?,
            created_at: now,
        };
        crate::office::validate_header(&header).map_err(|e| match e {
            crate::office::OfficeError::Invalid { field, message } => {
                let column = match field.strip_prefix("slot.") {
                    Some(end) => format!("slot_{end}"),
                    None => field.rsplit('.').next().unwrap_or(&field).to_owned(),
                };
                error(at(&column), message)
            }
            other => error(format!("row {row}"), other.to_string()),
        })?;
        let contact = crate::office::Contact {
            email: Some(get("email").trim()).filter(|e| !e.is_empty()).map(str::to_owned),
            tracking_photo: flag("tracking_photo")?,
        };
        contact.validate().map_err(|e| error(at("email"), e.to_string()))?;
        let (email, tracking_photo) = (contact.email, contact.tracking_photo);
        first_row.insert(id.to_owned(), (row, cells, orders.len()));
        orders.push(SeedOrder { header, allocations: Vec::new(), pick_device: None, email, tracking_photo });
    }
    if orders.is_empty() {
        return Err(error("row 2", "the file has no orders"));
    }
    Ok(Seed { orders, ..Seed::default() })
}

/// Payment terms from the `payment`, `amount_minor` and `currency` cells;
/// `at` names a column of the row.
fn terms(
    payment: &str,
    amount: &str,
    currency: &str,
    at: &dyn Fn(&str) -> String,
) -> Result<PaymentTerms, CsvError> {
    let terms = match payment.to_ascii_lowercase().replace('-', "_").as_str() {
        "" | "on_account" => PaymentTerms::OnAccount,
        "prepaid" => PaymentTerms::Prepaid,
        "on_delivery" => {
            let amount_minor = match amount.parse::<u64>() {
                Ok(a) if a > 0 => a,
                _ => {
                    return Err(error(
                        at("amount_minor"),
                        "the amount due on delivery must be a whole number of minor units (such as cents), at least 1",
                    ));
                }
            };
            let currency = Currency::new(currency).map_err(|e| error(at("currency"), e.to_string()))?;
            return Ok(PaymentTerms::OnDelivery { amount_minor, currency });
        }
        other => {
            return Err(error(
                at("payment"),
                format!("unknown payment terms {other:?}: prepaid, on_delivery or on_account"),
            ));
        }
    };
    if !amount.is_empty() || !currency.is_empty() {
        let column = if amount.is_empty() { "currency" } else { "amount_minor" };
        return Err(error(
            at(column),
            "only an order paid on delivery (payment on_delivery) has an amount due",
        ));
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const HEAD: &str =
        "order_id,customer,name,line1,city,postcode,country,lat,lon,gtin,description,quantity,promised\n";

    #[test]
    fn rows_of_one_order_become_its_lines() {
        let text = format!(
            "{HEAD}SO-1,Ada,Ada Lovelace,12 St James's Square,London,SW1Y 4JH,GB,51.5074,-0.1345,09506000134352,Gear,2,2026-11-25\n\
             SO-1,Ada,Ada Lovelace,12 St James's Square,London,SW1Y 4JH,GB,51.5074,-0.1345,09506000134369,Cards,1,2026-11-25\n\
             SO-2,Bob,\"Babbage, Charles\",1 Dorset St,London,W1U 4EG,GB,,,09506000134376,Oil can,3,\n"
        );
        let seed = parse(&text, Utc::now()).unwrap();
        assert_eq!(seed.orders.len(), 2);
        let so1 = &seed.orders[0].header;
        assert_eq!(so1.lines.iter().map(|l| (l.line, l.quantity)).collect::<Vec<_>>(), [(1, 2), (2, 1)]);
        assert_eq!(so1.ship_to.geo.unwrap().lat(), 51.5074);
        assert_eq!(so1.promised, NaiveDate::from_ymd_opt(2026, 11, 25));
        assert_eq!(seed.orders[1].header.ship_to.name, "Babbage, Charles");
        assert_eq!(seed.orders[1].header.ship_to.geo, None);
        assert_eq!(so1.payment, PaymentTerms::OnAccount);
    }

    #[test]
    fn payment_terms_come_from_their_columns() {
        let text = "order_id,customer,name,line1,city,postcode,country,gtin,quantity,payment,amount_minor,currency\n\
             SO-1,Ada,Ada,1 High St,London,N1,GB,09506000134352,1,on_delivery,1250,GBP\n\
             SO-1,Ada,Ada,1 High St,London,N1,GB,09506000134369,1,on_delivery,1250,GBP\n\
             SO-2,Bob,Bob,2 High St,London,N1,GB,09506000134352,1,prepaid,,\n\
             SO-3,Cy,Cy,3 High St,London,N1,GB,09506000134352,1,,,\n";
        let seed = parse(text, Utc::now()).unwrap();
        let terms: Vec<_> = seed.orders.iter().map(|o| o.header.payment.clone()).collect();
        assert_eq!(
            terms,
            [
                PaymentTerms::OnDelivery { amount_minor: 1250, currency: Currency::new("GBP").unwrap() },
                PaymentTerms::Prepaid,
                PaymentTerms::OnAccount,
            ]
        );
        let differs = text.replace(
            "SO-1,Ada,Ada,1 High St,London,N1,GB,09506000134369,1,on_delivery,1250",
            "SO-1,Ada,Ada,1 High St,London,N1,GB,09506000134369,1,on_delivery,1300",
        );
        assert_eq!(parse(&differs, Utc::now()).unwrap_err().field, "row 3.amount_minor");
    }

    #[test]
    fn the_customers_email_and_photo_permission_come_from_their_columns() {
        let text = "order_id,customer,name,line1,city,postcode,country,gtin,quantity,email,tracking_photo\n\
             SO-1,Ada,Ada,1 High St,London,N1,GB,09506000134352,1,ada@example.com,yes\n\
             SO-2,Bob,Bob,2 High St,London,N1,GB,09506000134352,1,,\n";
        let seed = parse(text, Utc::now()).unwrap();
        let contacts: Vec<_> = seed.orders.iter().map(|o| (o.email.as_deref(), o.tracking_photo)).collect();
        assert_eq!(contacts, [(Some("ada@example.com"), true), (None, false)]);
        let bad = text.replace("ada@example.com", "ada at example");
        let e = parse(&bad, Utc::now()).unwrap_err();
        assert_eq!(e.field, "row 2.email");
        assert!(e.message.contains("not an email address"), "{}", e.message);
    }

    #[test]
    fn a_slot_comes_from_its_two_columns_on_the_promised_day() {
        let head = HEAD.replace("promised\n", "promised,slot_from,slot_to\n");
        let row = "SO-1,Ada,Ada,1 High St,London,N1,GB,51.5,-0.1,09506000134352,Gear,2,2026-11-25";
        let seed = parse(&format!("{head}{row},09:00,11:30\n"), Utc::now()).unwrap();
        let slot = seed.orders[0].header.slot.unwrap();
        assert_eq!((slot.from.to_string(), slot.to.to_string()), ("09:00:00".into(), "11:30:00".into()));
        assert_eq!(parse(&format!("{head}{row},,\n"), Utc::now()).unwrap().orders[0].header.slot, None);
        for (cells, field) in
            [("9am,11:30", "row 2.slot_from"), ("09:00,", "row 2.slot_to"), ("11:30,09:00", "row 2.slot_to")]
        {
            assert_eq!(
                parse(&format!("{head}{row},{cells}\n"), Utc::now()).unwrap_err().field,
                field,
                "{cells}"
            );
        }
        let undated = format!("{head}{},09:00,11:30\n", row.trim_end_matches("2026-11-25"));
        assert_eq!(parse(&undated, Utc::now()).unwrap_err().field, "row 2.promised");
    }

    #[test]
    fn errors_name_the_row_and_column() {
        let row = "SO-1,Ada,Ada,1 High St,London,N1,GB,51.5,-0.1,09506000134352,Gear,2,\n";
        let cases = [
            (format!("{HEAD}{}", row.replace(",2,", ",0,")), "row 2.quantity"),
            (format!("{HEAD}{}", row.replace("09506000134352", "09506000134353")), "row 2.gtin"),
            (format!("{HEAD}{row}{}", row.replace("London", "Paris")), "row 3.city"),
            (format!("{HEAD}{}", row.replace(",GB,", ",gb,")), "row 2.country"),
            (format!("{HEAD}{}", row.replace("51.5", "91")), "row 2.lat"),
            (format!("{HEAD}{}", row.replace("-0.1", "east")), "row 2.lon"),
            (format!("{HEAD}{}", row.replace("Gear,2,", "Gear,2,26/11/2026")), "row 2.promised"),
            (HEAD.replace("customer", "client") + row, "header"),
            (HEAD.replace("gtin,", "").to_owned(), "header"),
            (HEAD.to_owned(), "row 2"),
        ];
        let paid = |cells: &str| {
            let head = HEAD.replace("promised\n", "promised,payment,amount_minor,currency\n");
            format!("{head}{},{cells}\n", row.trim_end())
        };
        let cases = cases.into_iter().chain([
            (paid("barter,,"), "row 2.payment"),
            (paid("on_delivery,0,EUR"), "row 2.amount_minor"),
            (paid("on_delivery,-250,EUR"), "row 2.amount_minor"),
            (paid("on_delivery,250,euro"), "row 2.currency"),
            (paid("prepaid,250,"), "row 2.amount_minor"),
        ]);
        for (text, field) in cases {
            let e = parse(&text, Utc::now()).unwrap_err();
            assert_eq!(e.field, field, "{text}: {e}");
            assert!(!e.message.is_empty());
        }
    }
}
