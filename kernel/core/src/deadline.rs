//! Timeouts of blocking syscalls: from a requested timeout to an absolute deadline.
//!
//! A blocking syscall (`send`, `receive`, `call`, `wait`) takes a timeout in
//! microseconds, where [`FOREVER`] (0) means no timeout. [`Deadline::after`]
//! turns it into an absolute point on the microsecond clock (saturating, so
//! a huge timeout is a deadline that never comes rather than one in the
//! past); the kernel blocks until the awaited event or the deadline,
//! whichever comes first, and [`Deadline::has_passed`] says which it was.

/// The timeout that never expires.
pub const FOREVER: u64 = 0;

/// When a blocked call gives up, on the microsecond clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(Option<u64>);

impl Deadline {
    /// A deadline that never comes.
    pub const NEVER: Self = Self(None);

    /// Returns the deadline `timeout_us` microseconds after `now_us`
    /// ([`Deadline::NEVER`] for [`FOREVER`]; saturating at the clock's end).
    pub const fn after(now_us: u64, timeout_us: u64) -> Self {
        if timeout_us == FOREVER {
            Self::NEVER
        } else {
            Self(Some(now_us.saturating_add(timeout_us)))
        }
    }

    /// Returns the clock value at which the deadline comes, if it does.
    pub const fn at_us(self) -> Option<u64> {
        self.0
    }

    /// Returns whether the deadline has come at `now_us`.
    pub const fn has_passed(self, now_us: u64) -> bool {
        match self.0 {
            Some(at) => now_us >= at,
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_waits_forever() {
        let deadline = Deadline::after(1_000, FOREVER);
        assert_eq!(deadline, Deadline::NEVER);
        assert_eq!(deadline.at_us(), None);
        assert!(!deadline.has_passed(0));
        assert!(!deadline.has_passed(u64::MAX));
    }

    #[test]
    fn a_timeout_passes_exactly_at_its_end() {
        let deadline = Deadline::after(1_000, 250);
        assert_eq!(deadline.at_us(), Some(1_250));
        assert!(!deadline.has_passed(1_000));
        assert!(!deadline.has_passed(1_249));
        assert!(deadline.has_passed(1_250));
        assert!(deadline.has_passed(u64::MAX));
    }

    #[test]
    fn the_smallest_timeout_is_not_already_over() {
        let deadline = Deadline::after(7, 1);
        assert!(!deadline.has_passed(7));
        assert!(deadline.has_passed(8));
    }

    #[test]
    fn a_huge_timeout_saturates_instead_of_wrapping_into_the_past() {
        let deadline = Deadline::after(u64::MAX - 10, u64::MAX);
        assert_eq!(deadline.at_us(), Some(u64::MAX));
        assert!(!deadline.has_passed(u64::MAX - 1));
        let deadline = Deadline::after(5, u64::MAX - 2);
        assert_eq!(deadline.at_us(), Some(u64::MAX));
        assert!(!deadline.has_passed(1 << 63));
    }
}
