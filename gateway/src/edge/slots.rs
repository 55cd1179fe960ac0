//! A count of open downstream connections with a ceiling that can change at any time.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use prometheus::IntGauge;

/// Open connections, shared by every capped listener of the process.
#[derive(Debug)]
pub struct Slots {
    open: AtomicU32,
    gauge: IntGauge,
}

impl Slots {
    /// No connection open; `gauge` mirrors the count.
    pub fn new(gauge: IntGauge) -> Self {
        Slots {
            open: AtomicU32::new(0),
            gauge,
        }
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn open(&self) -> u32 {
        self.open.load(Ordering::Relaxed)
    }

    /// Takes a slot unless `max` are already taken. The ceiling is an argument (not a field)
    /// because a reload may lower it: connections already open stay, new ones wait for the
    /// count to fall below the new ceiling.
    pub fn try_take(self: &Arc<Self>, max: u32) -> Option<Slot> {
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        self.gauge.inc();
        Some(Slot {
            slots: self.clone(),
        })
    }
}

/// One open connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.open.fetch_sub(1, Ordering::AcqRel);
        self.slots.gauge.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_and_freed_on_drop() {
        let slots = Arc::new(Slots::new(IntGauge::new("g", "g").unwrap()));
        let a = slots.try_take(2).unwrap();
        let _b = slots.try_take(2).unwrap();
        assert!(slots.try_take(2).is_none());
        assert_eq!(slots.gauge.get(), 2);
        drop(a);
        assert_eq!(slots.open(), 1);
        assert!(slots.try_take(2).is_some());
    }

    #[test]
    fn a_lowered_ceiling_keeps_open_connections() {
        let slots = Arc::new(Slots::new(IntGauge::new("g", "g").unwrap()));
        let held: Vec<_> = (0..5).map(|_| slots.try_take(10).unwrap()).collect();
        assert!(slots.try_take(3).is_none());
        assert_eq!(slots.open(), 5);
        drop(held);
        assert_eq!(slots.open(), 0);
        assert_eq!(slots.gauge.get(), 0);
    }
}
