//! Planning: the decisions the office makes before work goes out, as pure
//! functions of what it knows (orders, stock, addresses). Each returns a plan
//! for the office to write as events or headers; nothing here writes a
//! document, reads a clock or talks to anyone.
//!
//! - [`allocate`]: which location ships which units of each order line, and
//!   what nobody has (backorders);
//! - [`day`]: a day's routes within slots, van capacities and shifts, and a
//!   stop added to a running route;
//! - [`picklist`]: a location's picks grouped into batches, each a walk
//!   through the bins;
//! - [`eta`]: when a van on its run should reach a stop, as a window to
//!   show the customer (the clock is an argument).
//!
//! Every planner is deterministic: the same input gives the same plan.

pub mod allocate;
pub mod day;
pub mod eta;
pub mod picklist;
