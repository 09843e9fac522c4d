//! A hybrid logical clock (Kulkarni et al. 2014): physical milliseconds plus
//! a logical counter, so that an event stamped after seeing another always
//! sorts after it, even when device clocks disagree.
//!
//! Sans-IO: the caller passes the wall clock in (`now_ms`); nothing here reads
//! the time.

use serde::{Deserialize, Serialize};

/// One clock reading. Orders by milliseconds, then counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hlc {
    /// Milliseconds since the Unix epoch, at least the largest seen.
    pub ms: u64,
    /// Counter that breaks ties within one millisecond.
    pub n: u32,
}

/// A device's clock: the last reading it gave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HlcClock {
    last: Hlc,
}

impl HlcClock {
    /// A clock that resumes after `last`, e.g. as read back from storage.
    pub fn resume(last: Hlc) -> Self {
        Self { last }
    }

    /// The last reading given out or observed.
    pub fn last(&self) -> Hlc {
        self.last
    }

    /// A new reading for a local event, greater than every earlier one.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        self.last = if now_ms > self.last.ms { Hlc { ms: now_ms, n: 0 } } else { self.bump(self.last.ms) };
        self.last
    }

    /// Takes in a reading from another replica, so later local readings sort
    /// after it.
    pub fn observe(&mut self, remote: Hlc, now_ms: u64) {
        if remote > self.last && remote.ms >= now_ms {
            self.last = remote;
        }
    }

    fn bump(&self, ms: u64) -> Hlc {
        match self.last.n.checked_add(1) {
            Some(n) => Hlc { ms, n },
            // The counter is spent: borrow the next millisecond.
            None => Hlc { ms: ms + 1, n: 0 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_strictly_increasing_even_when_the_wall_clock_goes_back() {
        let mut c = HlcClock::default();
        let a = c.tick(1_000);
        let b = c.tick(1_000);
        let d = c.tick(900);
        let e = c.tick(2_000);
        assert!(a < b && b < d && d < e);
        assert_eq!(e, Hlc { ms: 2_000, n: 0 });
    }

    #[test]
    fn local_events_sort_after_an_observed_remote_one() {
        let mut c = HlcClock::default();
        c.tick(1_000);
        let remote = Hlc { ms: 5_000, n: 3 };
        c.observe(remote, 1_001);
        assert!(c.tick(1_002) > remote);
        // an old remote reading changes nothing
        let before = c.last();
        c.observe(Hlc { ms: 10, n: 0 }, 1_003);
        assert_eq!(c.last(), before);
    }

    #[test]
    fn counter_overflow_moves_to_the_next_millisecond() {
        let mut c = HlcClock::resume(Hlc { ms: 7, n: u32::MAX });
        assert_eq!(c.tick(7), Hlc { ms: 8, n: 0 });
    }
}
