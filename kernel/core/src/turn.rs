//! Whose turn it is at a shared resource: the longest waiter goes first.
//!
//! A resource (an accelerator device, a device buffer) taken and given back
//! in a loop by one agent could otherwise be retaken by it before a waiting
//! agent runs again. [`Turn`] remembers the waiter that has waited longest;
//! while it waits nobody who started waiting later may take the resource.

/// One waiter: who, and since when (any monotonic clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    /// The waiting agent.
    pub id: u64,
    /// When it began waiting.
    pub since: u64,
}

/// The longest-waiting claimant of one resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Turn {
    oldest: Option<Waiter>,
}

impl Turn {
    /// A resource nobody waits for.
    pub const fn new() -> Self {
        Self { oldest: None }
    }

    /// `me` asks for the resource, which is `free` or not. Returns whether
    /// `me` may take it now; otherwise `me` is remembered if it has waited
    /// longest.
    pub fn claim(&mut self, me: Waiter, free: bool) -> bool {
        match self.oldest {
            Some(other) if other.id != me.id && other.since <= me.since => false,
            Some(other) if other.id == me.id => {
                if free {
                    self.oldest = None;
                }
                free
            }
            _ => {
                if !free {
                    self.oldest = Some(me);
                }
                free
            }
        }
    }

    /// `id` stops waiting (it gave up or ended).
    pub fn forget(&mut self, id: u64) {
        if self.oldest.is_some_and(|waiter| waiter.id == id) {
            self.oldest = None;
        }
    }

    /// Returns the waiter whose turn comes next, if any.
    pub fn oldest(&self) -> Option<Waiter> {
        self.oldest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u64 = 1;
    const B: u64 = 2;

    fn at(id: u64, since: u64) -> Waiter {
        Waiter { id, since }
    }

    #[test]
    fn a_free_resource_goes_to_whoever_asks() {
        let mut turn = Turn::new();
        assert!(turn.claim(at(A, 0), true));
        assert_eq!(turn.oldest(), None);
    }

    #[test]
    fn a_waiter_is_not_overtaken_by_a_later_one() {
        let mut turn = Turn::new();
        // B waits while A holds the resource.
        assert!(!turn.claim(at(B, 10), false));
        // A gives it back and at once asks again (it began asking later).
        assert!(!turn.claim(at(A, 20), true));
        // B's turn.
        assert!(turn.claim(at(B, 10), true));
        assert_eq!(turn.oldest(), None);
        // Then A again.
        assert!(turn.claim(at(A, 20), true));
    }

    #[test]
    fn an_older_waiter_takes_the_place_of_a_younger_one() {
        let mut turn = Turn::new();
        assert!(!turn.claim(at(B, 30), false));
        assert!(!turn.claim(at(A, 5), false));
        assert_eq!(turn.oldest(), Some(at(A, 5)));
        assert!(!turn.claim(at(B, 30), true));
        assert!(turn.claim(at(A, 5), true));
    }

    #[test]
    fn a_waiter_that_gives_up_or_ends_is_forgotten() {
        let mut turn = Turn::new();
        assert!(!turn.claim(at(B, 10), false));
        turn.forget(A);
        assert_eq!(turn.oldest(), Some(at(B, 10)));
        turn.forget(B);
        assert!(turn.claim(at(A, 20), true));
    }
}
