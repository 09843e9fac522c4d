//! The depot at the end of a driver's run: the office counts the cash the
//! driver brings back and records the handover on the route, and at the
//! end of the day the reconciliation (per route: collected, handed in,
//! difference) is read back. One count in the day comes up short, so the
//! reconciliation shows a difference as an exception.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use waybill_shared::doc::payment::Currency;
use waybill_shared::id::RouteId;
use waybill_sync_server::payment::{self, CashLine, Handover};
use waybill_sync_server::server::Shared;

use super::USER;

/// How much the short count is short, in minor units.
const SHORT_BY: u64 = 1000;

/// The office at the depot.
pub struct Depot {
    shared: Arc<Shared>,
    /// Whether the day's short count happened.
    shorted: AtomicBool,
}

impl Depot {
    /// The depot of the demo's office.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared, shorted: AtomicBool::new(false) }
    }

    /// The driver of `route` is back: records the cash its deliveries
    /// collected, if it collected any and none was handed in yet. The first
    /// count of the day with enough in it is short.
    pub async fn hand_in(&self, route: &RouteId) -> anyhow::Result<()> {
        let lines = payment::reconciliation(&self.shared.storage).await?;
        let due = lines.iter().filter(|l| l.route == route.as_str() && !l.handed_in && l.expected_minor > 0);
        for line in due {
            let currency: Currency = line.currency.parse()?;
            let short = line.expected_minor > SHORT_BY && !self.shorted.swap(true, Ordering::SeqCst);
            let counted = if short { line.expected_minor - SHORT_BY } else { line.expected_minor };
            let note = if short { "counted at the depot: the bag is short" } else { "counted at the depot" };
            let handover = Handover { amount_minor: counted, currency: currency.clone(), note: note.into() };
            payment::hand_in(&self.shared, route, handover, Some(USER.into())).await?;
            println!(
                "office counted the cash {} brought back from {route}: {} handed in, {} collected{}",
                line.driver,
                currency.format(counted),
                currency.format(line.expected_minor),
                if short { " (short)" } else { "" }
            );
        }
        Ok(())
    }

    /// The end of the day: every route that collected cash and has not
    /// handed it in yet does now.
    pub async fn close_day(&self) -> anyhow::Result<()> {
        let lines = payment::reconciliation(&self.shared.storage).await?;
        let mut routes: Vec<&str> =
            lines.iter().filter(|l| !l.handed_in && l.expected_minor > 0).map(|l| l.route.as_str()).collect();
        routes.dedup();
        for route in routes {
            self.hand_in(&route.parse()?).await?;
        }
        Ok(())
    }

    /// The day's cash reconciliation, one line per route and currency.
    pub async fn reconciliation(&self) -> anyhow::Result<Vec<String>> {
        let lines = payment::reconciliation(&self.shared.storage).await?;
        lines.iter().map(line).collect()
    }
}

/// One route's cash in words.
fn line(l: &CashLine) -> anyhow::Result<String> {
    let currency: Currency = l.currency.parse()?;
    let difference = currency.format(l.difference_minor.unsigned_abs());
    let sign = match l.difference_minor {
        0 => "",
        d if d < 0 => "-",
        _ => "+",
    };
    let handed = if l.handed_in { currency.format(l.handed_in_minor) } else { "nothing yet".into() };
    let exception = l.open_exception.as_ref().map(|e| format!(" (exception {e})")).unwrap_or_default();
    Ok(format!(
        "{} {} {}: collected {}, handed in {handed}, difference {sign}{difference}{exception}",
        l.route,
        l.driver,
        l.van,
        currency.format(l.expected_minor)
    ))
}
