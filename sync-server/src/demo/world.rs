//! The demo's world, made up from a seed: two warehouses with bins and
//! stock, a priced catalogue, and customers' orders around two cities, each
//! with the customer's email address and how it is paid (mostly on
//! account, some prepaid, some cash on delivery, in EUR).

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use waybill_shared::seed::Seed;

/// A small, seeded random number generator (xorshift64*), so a demo run
/// can be repeated.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// A number in `-1.0..1.0`.
    pub fn signed(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// `body` (all digits) with its GS1 check digit.
fn with_check_digit(body: String) -> String {
    let digit = waybill_shared::gs1::check_digit(&body).unwrap_or(0);
    format!("{body}{digit}")
}

/// The GTIN-14 of catalogue item `n`.
pub fn gtin(n: usize) -> String {
    with_check_digit(format!("0950600014{n:03}"))
}

/// The SSCC of package `serial` packed by packer number `packer`.
pub fn sscc(packer: usize, serial: u64) -> String {
    with_check_digit(format!("0950600{packer:02}{serial:08}"))
}

/// The catalogue, by item number.
pub const CATALOGUE: &[&str] = &[
    "Brass gear, 40 teeth",
    "Punched card deck",
    "Oil can",
    "Ball bearings, 608",
    "Copper wire, 10 m",
    "Torque wrench",
    "Safety goggles",
    "Work gloves, L",
    "Cable ties, 100",
    "LED work light",
    "Hex key set",
    "Spirit level, 60 cm",
    "Tape measure, 5 m",
    "Wood screws, 200",
    "Claw hammer",
    "Pliers set",
    "Soldering iron",
    "Multimeter",
    "Drill bits, HSS",
    "Extension lead, 4 way",
];

/// The catalogue's prices, in euro cents, by item number.
const PRICES: &[u64] = &[
    1450, 899, 650, 1275, 1890, 8900, 1199, 725, 495, 3450, 2250, 2895, 1150, 975, 2490, 3190, 4250, 5990,
    1875, 1599,
];

/// The delivery charge on every order, in euro cents.
const DELIVERY_CENTS: u64 = 495;

/// The currency of the demo's prices.
pub const CURRENCY: &str = "EUR";

/// What an order of `lines` (GTIN and quantity) costs with delivery, in
/// euro cents; items not in the catalogue count nothing.
pub fn total<'a>(lines: impl IntoIterator<Item = (&'a str, u64)>) -> u64 {
    let price = |g: &str| (0..CATALOGUE.len()).find(|&n| gtin(n) == g).map_or(0, |n| PRICES[n]);
    DELIVERY_CENTS + lines.into_iter().map(|(g, quantity)| price(g) * quantity).sum::<u64>()
}

/// The item stocked short at the northern warehouse: orders for it there
/// compete for the last units.
pub const SCARCE: usize = 3;

/// A warehouse: id, name, city centre (lat, lon).
pub const WAREHOUSES: &[(&str, &str, f64, f64)] = &[
    ("wh-south", "London depot, Park Royal", 51.5286, -0.2620),
    ("wh-north", "Manchester depot, Trafford Park", 53.4631, -2.3130),
];

/// Where customers live: city, postcode area, centre (lat, lon), warehouse.
const CITIES: &[(&str, &str, f64, f64, usize)] = &[
    ("London", "N", 51.5074, -0.1278, 0),
    ("London", "SE", 51.4700, -0.0600, 0),
    ("Reading", "RG", 51.4543, -0.9781, 0),
    ("Manchester", "M", 53.4808, -2.2426, 1),
    ("Salford", "M", 53.4875, -2.2901, 1),
    ("Stockport", "SK", 53.4106, -2.1575, 1),
];

const FIRST: &[&str] = &[
    "Ada", "Charles", "Grace", "Alan", "Mary", "Isambard", "Rosalind", "Tim", "Karen", "Dorothy", "Tom",
    "Hedy", "Edsger", "Barbara", "Donald", "Frances", "Claude", "Sophie", "Niklaus", "Margaret",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Babbage",
    "Hopper",
    "Turing",
    "Somerville",
    "Brunel",
    "Franklin",
    "Berners-Lee",
    "Jones",
    "Hodgkin",
    "Kilburn",
    "Lamarr",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Shannon",
    "Wilson",
    "Wirth",
    "Hamilton",
];
const STREETS: &[&str] = &[
    "High Street",
    "Station Road",
    "Church Lane",
    "Mill Road",
    "Victoria Street",
    "Park Avenue",
    "Canal Side",
    "Market Place",
    "Albert Road",
    "Queens Drive",
];

/// Bins of a warehouse: aisles A to E, six positions each, walked in order,
/// and the dock.
pub fn bins() -> Vec<String> {
    let mut out: Vec<String> =
        "ABCDE".chars().flat_map(|a| (1..=6).map(move |n| format!("{a}-{n:02}"))).collect();
    out.push("DOCK".into());
    out
}

/// The bin that holds catalogue item `item` (the same in both warehouses).
pub fn bin_of(item: usize) -> String {
    let bins = bins();
    bins[item % (bins.len() - 1)].clone()
}

/// A customer's order, as JSON for the seed (no allocation: the office
/// allocates).
pub fn order(rng: &mut Rng, n: usize, now: DateTime<Utc>) -> Value {
    let (city, area, lat, lon, warehouse) = *rng.pick(CITIES);
    let (first, last) = (rng.pick(FIRST), rng.pick(LAST));
    let name = format!("{first} {last}");
    let mut lines = Vec::new();
    let mut items: Vec<usize> = Vec::new();
    for _ in 0..1 + rng.below(3) {
        let item = if warehouse == 1 && rng.chance(0.15) {
            SCARCE
        } else {
            rng.below(CATALOGUE.len() as u64) as usize
        };
        if items.contains(&item) {
            continue;
        }
        items.push(item);
        lines.push(json!({
            "line": lines.len() + 1,
            "gtin": gtin(item),
            "description": CATALOGUE[item],
            "quantity": 1 + rng.below(3),
        }));
    }
    // Terms from a stream of their own, so the rest of the world (and the
    // collisions it stages) stays what it was before orders had terms.
    let mut own = Rng::new(rng.0 ^ 0x7e57_ca5e);
    let amount: u64 = total(
        lines.iter().map(|l| (l["gtin"].as_str().unwrap_or_default(), l["quantity"].as_u64().unwrap_or(0))),
    );
    let payment = match own.below(100) {
        0..60 => json!({ "terms": "on_account" }),
        60..75 => json!({ "terms": "prepaid" }),
        _ => json!({ "terms": "on_delivery", "amount_minor": amount, "currency": CURRENCY }),
    };
    // Some customers chose a two-hour slot today (from the terms' stream
    // too): the day's routes keep to them.
    let slot = own.chance(0.4).then(|| {
        let from = 8 + 2 * own.below(5);
        json!({ "from": format!("{from:02}:00"), "to": format!("{:02}:00", from + 2) })
    });
    let mut order = json!({
        "id": format!("SO-{}", 10_000 + n),
        "email": format!("{}.{}@example.com", first.to_lowercase(), last.to_lowercase()),
        // The made-up shipper lets customers see the photo of the door.
        "tracking_photo": true,
        "payment": payment,
        "customer": name,
        "ship_to": {
            "name": name,
            "line1": format!("{} {}", 1 + rng.below(180), rng.pick(STREETS)),
            "city": city,
            "postcode": format!("{area}{} {}{}{}", 1 + rng.below(20), rng.below(10), (b'A' + rng.below(26) as u8) as char, (b'A' + rng.below(26) as u8) as char),
            "country": "GB",
            "geo": { "lat": lat + rng.signed() * 0.06, "lon": lon + rng.signed() * 0.09 },
        },
        "lines": lines,
        "promised": (now + Duration::days(1 + rng.below(2) as i64)).date_naive(),
        "location": WAREHOUSES[warehouse].0,
        "proof": { "signature": rng.chance(0.5), "photo": rng.chance(0.7) },
        "created_at": now - Duration::minutes(rng.below(600) as i64),
    });
    if let Some(slot) = slot {
        order["promised"] = json!(now.date_naive());
        order["slot"] = slot;
    }
    order
}

/// The warehouses with opening stock, and `orders` orders.
pub fn seed(rng: &mut Rng, orders: usize, now: DateTime<Utc>) -> Seed {
    let bins = bins();
    let locations: Vec<Value> = WAREHOUSES
        .iter()
        .enumerate()
        .map(|(w, (id, name, lat, lon))| {
            let opening: Vec<Value> = (0..CATALOGUE.len())
                .map(|item| {
                    let quantity = if w == 1 && item == SCARCE { 6 } else { 40 + rng.below(80) };
                    json!({ "bin": bin_of(item), "gtin": gtin(item), "quantity": quantity })
                })
                .collect();
            json!({
                "id": id, "name": name, "epoch": 0,
                "geo": { "lat": lat, "lon": lon },
                "bins": bins.iter().enumerate().map(|(i, b)| json!({ "id": b, "walk": i + 1 })).collect::<Vec<_>>(),
                "opening": opening,
            })
        })
        .collect();
    let orders: Vec<Value> = (0..orders).map(|n| order(rng, n, now)).collect();
    // The generator only makes valid seeds; a failure here is a bug in it.
    serde_json::from_value(json!({ "locations": locations, "orders": orders }))
        .unwrap_or_else(|e| panic!("the demo's generated seed does not read: {e}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn generated_codes_have_valid_check_digits() {
        for n in [0, 7, 19] {
            let _: waybill_shared::gs1::Gtin = gtin(n).parse().unwrap();
        }
        for s in [sscc(0, 1), sscc(3, 99_999_999)] {
            let _: waybill_shared::gs1::Sscc = s.parse().unwrap();
        }
    }

    #[test]
    fn the_seed_reads_and_is_the_same_for_the_same_rng() {
        let now = Utc::now();
        let a = seed(&mut Rng::new(7), 50, now);
        let b = seed(&mut Rng::new(7), 50, now);
        assert_eq!(a.orders.len(), 50);
        assert_eq!(a.locations.len(), 2);
        assert_eq!(format!("{:?}", a.orders[17].header), format!("{:?}", b.orders[17].header));
        for o in &a.orders {
            waybill_sync_server::office::validate_header(&o.header).unwrap();
            assert!(o.header.ship_to.geo.is_some());
        }
    }

    #[test]
    fn orders_carry_an_email_and_a_mix_of_payment_terms_priced_in_euros() {
        let orders = seed(&mut Rng::new(1), 200, Utc::now()).orders;
        for o in &orders {
            let email = o.email.as_deref().unwrap();
            assert!(email.ends_with("@example.com"), "{email}");
            let _: lettre::Address = email.parse().unwrap();
        }
        let count = |name: &str| orders.iter().filter(|o| o.header.payment.name() == name).count();
        assert!(count("on_account") > 100, "mostly on account");
        assert!(count("prepaid") >= 15 && count("on_delivery") >= 25, "some of each");
        for o in &orders {
            let Some((due, currency)) = o.header.payment.due_on_delivery() else { continue };
            assert_eq!(currency.as_str(), "EUR");
            let lines: Vec<(String, u64)> =
                o.header.lines.iter().map(|l| (l.gtin.to_string(), u64::from(l.quantity))).collect();
            let expected = total(lines.iter().map(|(g, q)| (g.as_str(), *q)));
            assert_eq!(due, expected);
            assert!((500..100_000).contains(&due), "{due}");
        }
        assert_eq!(total([(gtin(5).as_str(), 2)]), 2 * 8900 + 495);
        assert_eq!(total([("00000000000000", 3)]), 495, "an unknown item costs nothing");
    }
}
