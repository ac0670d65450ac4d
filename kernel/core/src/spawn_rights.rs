//! What a spawned agent may do: its parent's rights, cut down, receive rights only by grant.
//!
//! A child never gets more than its parent holds. Its send, syscall and
//! device rights are the parent's when the parent asks for nothing in
//! particular ("inherit"), else what it asks for that it holds. Receive
//! rights are different: an endpoint's receive right belongs to one owner
//! (the first agent to `receive` on it), so a child gets a receive right
//! only when the parent grants it explicitly in the requested set, never by
//! inheriting. A granted endpoint the parent already owns stays the
//! parent's: the child's `receive` there is refused until the parent exits
//! (then the endpoint is dead and the child may claim it).
//!
//! The sets are the ABI's four capability words (syscalls, send endpoints,
//! receive endpoints, devices), kept as plain words here so this crate
//! stays free of dependencies.

/// Index of the syscall bits in a capability set's words.
pub const SYSCALLS: usize = 0;
/// Index of the send-endpoint bits.
pub const SEND_ENDPOINTS: usize = 1;
/// Index of the receive-endpoint bits.
pub const RECEIVE_ENDPOINTS: usize = 2;
/// Index of the device bits.
pub const DEVICES: usize = 3;

/// Returns the child's capability words: `requested` (`None`: inherit)
/// intersected with the parent's `own`, with receive rights only where
/// `requested` grants them.
pub fn child_rights(own: [u64; 4], requested: Option<[u64; 4]>) -> [u64; 4] {
    let mut child = own;
    match requested {
        None => child[RECEIVE_ENDPOINTS] = 0,
        Some(requested) => {
            for (word, asked) in child.iter_mut().zip(requested) {
                *word &= asked;
            }
        }
    }
    child
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERYTHING: [u64; 4] = [u64::MAX; 4];

    #[test]
    fn inheriting_keeps_everything_but_receive_rights() {
        let own = [0b1011, 0xF0, 0b110, 1];
        assert_eq!(child_rights(own, None), [0b1011, 0xF0, 0, 1]);
        assert_eq!(child_rights(EVERYTHING, None)[RECEIVE_ENDPOINTS], 0);
    }

    #[test]
    fn an_explicit_grant_gives_only_what_the_parent_holds() {
        let own = [0b1011, 0xF0, 0b110, 1];
        let asked = [u64::MAX, 0x1F, 0b011, 0];
        assert_eq!(child_rights(own, Some(asked)), [0b1011, 0x10, 0b010, 0]);
        assert_eq!(child_rights(own, Some(EVERYTHING)), own);
    }

    #[test]
    fn a_parent_without_receive_rights_cannot_grant_any() {
        let own = [u64::MAX, u64::MAX, 0, u64::MAX];
        assert_eq!(child_rights(own, Some(EVERYTHING))[RECEIVE_ENDPOINTS], 0);
    }

    #[test]
    fn asking_for_nothing_gives_nothing() {
        assert_eq!(child_rights(EVERYTHING, Some([0; 4])), [0; 4]);
    }

    #[test]
    fn a_grandchild_never_regains_a_right() {
        let root = [u64::MAX, u64::MAX, 1 << 9, 0];
        let child = child_rights(root, None);
        assert_eq!(child_rights(child, Some(EVERYTHING))[RECEIVE_ENDPOINTS], 0);
        let granted = child_rights(root, Some([u64::MAX, 0, 1 << 9 | 1 << 4, 0]));
        assert_eq!(granted[RECEIVE_ENDPOINTS], 1 << 9);
        assert_eq!(child_rights(granted, None)[RECEIVE_ENDPOINTS], 0);
    }
}
