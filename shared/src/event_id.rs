//! The fleet-unique id of an event: the device that wrote it and that
//! device's own sequence number.
//!
//! A device numbers its events 1, 2, 3, ... across all documents, so
//! `(device, seq)` never repeats in the fleet. The text form `<device>:<seq>`
//! is the event's key in a document's `events` map.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::id::{DeviceId, InvalidId};

/// The id of one event, unique in the fleet.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId {
    /// The device that wrote the event.
    pub device: DeviceId,
    /// The device's sequence number, from 1.
    pub seq: u64,
}

/// A string that is not `<device>:<seq>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEventId {
    /// There is no `:` between device and sequence.
    #[error("event id {0:?} is not <device>:<seq>")]
    Shape(String),
    /// The device part is not a valid device id.
    #[error(transparent)]
    Device(#[from] InvalidId),
    /// The sequence is not a number from 1.
    #[error("event id {0:?} has no sequence number from 1")]
    Seq(String),
}

impl EventId {
    /// The id of `device`'s event number `seq`.
    pub fn new(device: DeviceId, seq: u64) -> Self {
        Self { device, seq }
    }
}

impl FromStr for EventId {
    type Err = InvalidEventId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (device, seq) = s.rsplit_once(':').ok_or_else(|| InvalidEventId::Shape(s.to_owned()))?;
        let device = DeviceId::new(device)?;
        let seq = match seq.parse::<u64>() {
            Ok(n) if n > 0 && !seq.starts_with('0') => n,
            _ => return Err(InvalidEventId::Seq(s.to_owned())),
        };
        Ok(Self { device, seq })
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.device, self.seq)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl Serialize for EventId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id: EventId = "hh-7:42".parse().unwrap();
        assert_eq!(id.device.as_str(), "hh-7");
        assert_eq!(id.seq, 42);
        assert_eq!(id.to_string(), "hh-7:42");
    }

    #[test]
    fn rejects_malformed_ids() {
        assert!(matches!("hh-7".parse::<EventId>(), Err(InvalidEventId::Shape(_))));
        assert!(matches!("hh-7:0".parse::<EventId>(), Err(InvalidEventId::Seq(_))));
        assert!(matches!("hh-7:01".parse::<EventId>(), Err(InvalidEventId::Seq(_))));
        assert!(matches!("hh-7:x".parse::<EventId>(), Err(InvalidEventId::Seq(_))));
        assert!(matches!("h h:1".parse::<EventId>(), Err(InvalidEventId::Device(_))));
    }
}
