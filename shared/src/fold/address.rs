//! Address amendments: which one is in force, and which were made without
//! seeing each other.
//!
//! Amendments flow in as `address_amended` events in fold order. The one
//! last in that order is in force (the header's address if none). Each new
//! amendment says which address it replaces ([`Replaces`]); one that
//! replaces anything but the amendment just before it in fold order was made
//! without seeing the ones in between. Those ones did not see it either: a
//! hybrid logical clock puts an event after everything its writer had seen,
//! so an amendment that sorts earlier cannot have seen a later one. So they
//! are concurrent, and the fold reports them rather than letting the clock
//! pick the winner silently.

use crate::event::office::Replaces;
use crate::event::{Event, Payload};
use crate::event_id::EventId;
use crate::fold::order_events;

/// What a writer puts in a new amendment's `replaces`: the amendment in
/// force among `events` (a document's events, in any order), or the header.
pub fn in_force(events: &[Event]) -> Replaces {
    order_events(events)
        .live
        .iter()
        .rev()
        .find(|e| matches!(e.payload, Payload::AddressAmended(_)))
        .map_or(Replaces::Header, |e| Replaces::Amendment(e.id.clone()))
}

/// The amendments, in fold order with what each replaces, that were made
/// without seeing one another: for each amendment whose `replaces` is not
/// the one just before it, that amendment and every one between. An
/// amendment without `replaces` (written before the field existed) or
/// replacing one that is no longer live (voided) is taken as sequential.
pub(crate) fn concurrent(amendments: &[(EventId, Option<Replaces>)]) -> Vec<EventId> {
    let mut involved = Vec::new();
    for (k, (id, replaces)) in amendments.iter().enumerate() {
        let base = match replaces {
            None => continue,
            Some(Replaces::Header) => 0,
            Some(Replaces::Amendment(r)) => match amendments[..k].iter().position(|(a, _)| a == r) {
                Some(i) => i + 1,
                None => continue,
            },
        };
        if base < k {
            involved.extend(amendments[base..k].iter().map(|(a, _)| a.clone()));
            involved.push(id.clone());
        }
    }
    involved.sort();
    involved.dedup();
    involved
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::DeviceId;

    fn id(device: &str, seq: u64) -> EventId {
        EventId::new(DeviceId::new(device).expect("valid device"), seq)
    }

    #[test]
    fn a_chain_of_amendments_is_not_concurrent() {
        let (a, b) = (id("office", 1), id("office", 2));
        let chain =
            [(a.clone(), Some(Replaces::Header)), (b, Some(Replaces::Amendment(a))), (id("office", 3), None)];
        assert!(concurrent(&chain).is_empty());
    }

    #[test]
    fn amendments_replacing_the_same_address_are_concurrent() {
        let (a, b, c) = (id("office", 1), id("desk-2", 1), id("office", 2));
        let list = [
            (a.clone(), Some(Replaces::Header)),
            (b.clone(), Some(Replaces::Header)),
            (c.clone(), Some(Replaces::Amendment(b.clone()))),
        ];
        assert_eq!(concurrent(&list), [b, a]);
    }

    #[test]
    fn one_that_missed_two_names_both() {
        let (a, b, c, d) = (id("o", 1), id("o", 2), id("o", 3), id("p", 1));
        let list = [
            (a.clone(), Some(Replaces::Header)),
            (b.clone(), Some(Replaces::Amendment(a.clone()))),
            (c.clone(), Some(Replaces::Amendment(b.clone()))),
            (d.clone(), Some(Replaces::Amendment(a))),
        ];
        assert_eq!(concurrent(&list), [b, c, d]);
    }
}
