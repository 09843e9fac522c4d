//! The device side of event ids and clocks: hands out the next
//! `(device, seq)` and a hybrid logical clock reading for each new event.
//!
//! Sans-IO: the caller passes the wall time in and persists [`Recorder`]
//! (it is plain data) in the same transaction as the events it made, so a
//! restarted device never reuses a sequence number.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event::{Event, Payload};
use crate::event_id::EventId;
use crate::hlc::{Hlc, HlcClock};
use crate::id::DeviceId;

/// A device's event counter and clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorder {
    device: DeviceId,
    last_seq: u64,
    clock: HlcClock,
}

impl Recorder {
    /// A device that has written nothing yet.
    pub fn new(device: DeviceId) -> Self {
        Self { device, last_seq: 0, clock: HlcClock::default() }
    }

    /// The device.
    pub fn device(&self) -> &DeviceId {
        &self.device
    }

    /// The sequence number of the last event made.
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Makes the next event.
    pub fn record(&mut self, now: DateTime<Utc>, by: Option<String>, payload: Payload) -> Event {
        self.last_seq += 1;
        let hlc = self.clock.tick(millis(now));
        Event::new(EventId::new(self.device.clone(), self.last_seq), hlc, now, by, payload)
    }

    /// Takes in another replica's clock reading (from a merged event), so the
    /// next local event sorts after it.
    pub fn observe(&mut self, remote: Hlc, now: DateTime<Utc>) {
        self.clock.observe(remote, millis(now));
    }
}

fn millis(t: DateTime<Utc>) -> u64 {
    u64::try_from(t.timestamp_millis()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::office::Released;

    #[test]
    fn numbers_events_and_orders_them_after_what_it_saw() {
        let mut r = Recorder::new(DeviceId::new("hh-1").unwrap());
        let t = DateTime::from_timestamp(1_000, 0).unwrap();
        let a = r.record(t, None, Payload::Released(Released {}));
        r.observe(Hlc { ms: 9_000_000, n: 4 }, t);
        let b = r.record(t, None, Payload::Released(Released {}));
        assert_eq!((a.id.seq, b.id.seq), (1, 2));
        assert!(b.hlc > Hlc { ms: 9_000_000, n: 4 });
        let back: Recorder = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }
}
