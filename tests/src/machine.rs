//! Sharing the machine between the tests of one process.
//!
//! The end-to-end tests are one binary; libtest runs several of them at once (one per core by
//! default). Every [`crate::Topology`] holds a shared [`Claim`] while it lives, so a gateway
//! and its origins count as one test on the machine. A test that must not share the CPU (the
//! million-tenant reloads) builds its topology with an exclusive claim instead
//! ([`crate::Topology::standard_alone`]): it waits until no other topology is alive, and
//! topologies created meanwhile wait until it is dropped.
//!
//! Shared claims are preferred: a new shared claim is granted whenever no exclusive one is
//! held, even if an exclusive one is waiting. So a test that holds two topologies at once
//! cannot deadlock against a waiting exclusive test; the exclusive test gets its turn at the
//! first moment no topology is alive (in practice, between two tests).
//!
//! Only tests of this process are coordinated: other test binaries running at the same time
//! still share the machine.

use std::sync::{Condvar, Mutex, PoisonError};

struct State {
    shared: usize,
    exclusive: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    shared: 0,
    exclusive: false,
});
static CHANGED: Condvar = Condvar::new();

/// A test's claim on the machine; released when dropped.
#[derive(Debug)]
pub struct Claim {
    exclusive: bool,
}

impl Claim {
    /// Waits until no exclusive claim is held, then holds a shared one.
    pub fn shared() -> Claim {
        let mut s = STATE.lock().unwrap_or_else(PoisonError::into_inner);
        while s.exclusive {
            s = CHANGED.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.shared += 1;
        Claim { exclusive: false }
    }

    /// Waits until no claim at all is held, then holds the exclusive one.
    pub fn exclusive() -> Claim {
        let mut s = STATE.lock().unwrap_or_else(PoisonError::into_inner);
        while s.exclusive || s.shared > 0 {
            s = CHANGED.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.exclusive = true;
        Claim { exclusive: true }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut s = STATE.lock().unwrap_or_else(PoisonError::into_inner);
        if self.exclusive {
            s.exclusive = false;
        } else {
            s.shared -= 1;
        }
        CHANGED.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    // The claims are process-wide: this is the only unit test that takes them.
    #[test]
    fn an_exclusive_claim_waits_for_shared_ones_and_holds_new_ones_off() {
        let first = Claim::shared();
        let second = Claim::shared();
        let alone = Arc::new(AtomicBool::new(false));
        let waiter = {
            let alone = alone.clone();
            std::thread::spawn(move || {
                let claim = Claim::exclusive();
                alone.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                alone.store(false, Ordering::SeqCst);
                drop(claim);
            })
        };
        // Not granted while shared claims are alive (a negative, so observed for a while).
        std::thread::sleep(Duration::from_millis(50));
        assert!(!alone.load(Ordering::SeqCst));
        drop(first);
        drop(second);
        // A shared claim taken now comes after the exclusive one, or before it started:
        // never while it is held.
        let later = Claim::shared();
        assert!(!alone.load(Ordering::SeqCst));
        drop(later);
        waiter.join().unwrap();
    }
}
