//! The work of each role: each operation checks its input against the merged
//! views, refuses bad input with a clear [`crate::AgentError`] and writes
//! nothing, or records one event.

pub mod delivery;
pub mod packing;
pub mod picking;
pub mod quota;
pub mod stock;

use waybill_shared::fold::OrderView;
use waybill_shared::fold::order::LineView;
use waybill_shared::id::OrderId;

use crate::agent::Agent;
use crate::error::AgentError;

impl Agent {
    /// An order that can still be worked: held here, not cancelled, not on hold.
    pub(crate) fn workable_order(&mut self, order: &OrderId) -> Result<OrderView, AgentError> {
        let view = self.order_view(order)?;
        if view.cancelled {
            return Err(AgentError::Invalid(format!("order {order} is cancelled")));
        }
        if view.held {
            return Err(AgentError::Invalid(format!("order {order} is on hold")));
        }
        Ok(view)
    }
}

/// A line of an order view.
pub(crate) fn line_of(view: &OrderView, line: u32) -> Result<&LineView, AgentError> {
    view.lines.iter().find(|l| l.line == line).ok_or_else(|| AgentError::NotFound {
        what: "line",
        id: format!("{line} of order {}", view.header.id),
    })
}

/// Fails on a zero quantity.
pub(crate) fn positive(quantity: u32) -> Result<u32, AgentError> {
    if quantity == 0 {
        Err(AgentError::Invalid("the quantity must be at least 1".into()))
    } else {
        Ok(quantity)
    }
}
