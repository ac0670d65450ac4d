//! Memory budgets of agent trees: what each agent is charged, checked up its chain of ancestors.
//!
//! Every user agent has an account in a [`Ledger`] with a budget in bytes.
//! Everything the agent causes is charged to its account: its user pages and
//! their page tables, its kernel stack, the IPC messages it has queued in the
//! kernel, the device buffers of its jobs. A charge counts against the
//! account *and every ancestor's*: each account's `subtree` is its own
//! charges plus its descendants', and [`Ledger::charge`] refuses (changing
//! nothing) when any account on the chain would pass its budget, so a tree
//! of children can never take more than its root's budget. Releases go up
//! the same chain.
//!
//! When an agent ends, [`Ledger::close`] releases whatever it still holds.
//! An account whose agent ended while descendants live on does not let them
//! escape their ancestors' budgets:
//! - a closed account with a parent is taken out and its children are
//!   linked to that parent (whose `subtree` already counts them);
//! - a closed root is kept (closed) until its last descendant's account is
//!   gone, so the orphans still count against the root's budget.
//!
//! Closed accounts are thus only roots, each with a live descendant, so a
//! ledger of `N` accounts never needs more than three per agent (its own, one
//! being opened by a spawn, a closed root above it). The arithmetic is
//! overflow-checked: a charge that would overflow is refused like one over
//! budget, and a release never takes more than the account holds.

/// Bytes one frame (a page or a page table) is charged.
pub const FRAME_BYTES: u64 = 4096;
/// Entries of one page table: a level-1 table maps this many pages, a
/// level-2 table this many level-1 tables, a level-3 table this many level-2
/// tables.
const TABLE_ENTRIES: u64 = 512;
/// Closed roots the ledger remembers in [`Ledger::closed_trees`].
pub const CLOSED_TREES_KEPT: usize = 8;

/// Returns the most frames mapping `pages` consecutive pages can take in a
/// 4-level address space that has none of its page tables yet: the pages,
/// plus for each of the levels 1, 2 and 3 the most tables such a range can
/// touch (`pages` pages touch at most `(pages - 1) / span + 1` rounded up
/// regions of `span` pages, one table each). Overflow-safe (saturates).
pub const fn worst_case_frames(pages: u64) -> u64 {
    if pages == 0 {
        return 0;
    }
    let level_one = tables_touched(pages, TABLE_ENTRIES);
    let level_two = tables_touched(pages, TABLE_ENTRIES * TABLE_ENTRIES);
    let level_three = tables_touched(pages, TABLE_ENTRIES * TABLE_ENTRIES * TABLE_ENTRIES);
    pages
        .saturating_add(level_one)
        .saturating_add(level_two)
        .saturating_add(level_three)
}

/// Returns the most regions of `span` pages that `pages` (at least one)
/// consecutive pages touch.
const fn tables_touched(pages: u64, span: u64) -> u64 {
    (pages - 1).div_ceil(span) + 1
}

/// Returns `frames` frames in bytes (saturating).
pub const fn frames_to_bytes(frames: u64) -> u64 {
    frames.saturating_mul(FRAME_BYTES)
}

/// Names one account: its slot and the slot's generation, so a handle kept
/// after the account closed (a guard on a killed agent's stack) never
/// touches the slot's next account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountId {
    index: u16,
    generation: u32,
}

/// Why the ledger refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetError {
    /// Every account slot is in use.
    Full,
    /// The account (or the parent named for a new one) is not open.
    UnknownAccount,
    /// The charge would take this account (the charged one or an ancestor)
    /// over its budget, or overflow.
    OverBudget(AccountId),
}

/// What a closed root's tree used, kept after its last account is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRecord {
    /// The root's tag ([`Ledger::bind`]; the kernel uses the agent id).
    pub tag: u64,
    /// The root's budget, bytes.
    pub budget: u64,
    /// The most the whole tree held at once, bytes.
    pub peak: u64,
    /// Charges refused because they would have passed the root's budget.
    pub refusals: u64,
}

/// One account.
#[derive(Debug, Clone, Copy)]
struct Account {
    /// The parent's slot (`None`: a root).
    parent: Option<u16>,
    /// Most bytes `subtree` may reach.
    budget: u64,
    /// Bytes charged to this account itself.
    own: u64,
    /// `own` plus every descendant's charges.
    subtree: u64,
    /// Highest `subtree` seen.
    peak: u64,
    /// Accounts whose parent this is.
    children: u32,
    /// Whether its agent still runs (a closed account is a root kept for
    /// its descendants).
    open: bool,
    /// Charges refused at this account's budget.
    refusals: u64,
    /// What the owner calls it (0 until [`Ledger::bind`]).
    tag: u64,
}

/// Totals over the whole ledger since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LedgerStats {
    /// Accounts in use (open, or closed roots kept for descendants).
    pub accounts: usize,
    /// Bytes charged now, over all roots.
    pub charged: u64,
    /// Charges refused (over a budget, or overflow).
    pub refusals: u64,
    /// The highest share of its budget any root's tree reached, in parts
    /// per million.
    pub peak_ppm: u64,
}

/// The accounts of up to `N` agents and what each tree holds.
#[derive(Debug)]
pub struct Ledger<const N: usize> {
    accounts: [Option<Account>; N],
    generations: [u32; N],
    refusals: u64,
    peak_ppm: u64,
    closed: [Option<TreeRecord>; CLOSED_TREES_KEPT],
    next_closed: usize,
}

impl<const N: usize> Default for Ledger<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Ledger<N> {
    /// Returns an empty ledger (usable in a `static`).
    ///
    /// # Panics
    /// When `N` does not fit a slot index (above 65 536): configuration.
    pub const fn new() -> Self {
        assert!(N <= u16::MAX as usize + 1);
        Self {
            accounts: [None; N],
            generations: [0; N],
            refusals: 0,
            peak_ppm: 0,
            closed: [None; CLOSED_TREES_KEPT],
            next_closed: 0,
        }
    }

    fn slot(&self, id: AccountId) -> Option<&Account> {
        let index = usize::from(id.index);
        if self.generations.get(index) != Some(&id.generation) {
            return None;
        }
        self.accounts[index].as_ref()
    }

    fn id_of(&self, index: u16) -> AccountId {
        AccountId {
            index,
            generation: self.generations[usize::from(index)],
        }
    }

    /// Returns the slots from `index` up to its root, `index` first (at most
    /// `N`: the parent links never form a cycle, the bound only guards).
    fn chain(&self, index: u16) -> impl Iterator<Item = u16> + '_ {
        let mut next = Some(index);
        (0..N).map_while(move |_| {
            let at = next?;
            next = self.accounts[usize::from(at)].and_then(|account| account.parent);
            Some(at)
        })
    }

    /// Runs `visit` on account `index` and each of its ancestors, in that
    /// order: O(depth), no allocation (this runs with interrupts off for
    /// every page `map` adds).
    fn walk_up(&mut self, index: u16, mut visit: impl FnMut(&mut Account)) {
        let mut next = Some(index);
        for _ in 0..N {
            let Some(account) = next.and_then(|at| self.accounts[usize::from(at)].as_mut()) else {
                return;
            };
            visit(account);
            next = account.parent;
        }
    }

    /// Returns the first account from `index` up whose subtree cannot take
    /// `bytes` more (over its budget, or overflow).
    fn first_over_budget(&self, index: u16, bytes: u64) -> Option<u16> {
        let mut next = Some(index);
        for _ in 0..N {
            let at = next?;
            let account = self.accounts[usize::from(at)].as_ref()?;
            if account
                .subtree
                .checked_add(bytes)
                .is_none_or(|total| total > account.budget)
            {
                return Some(at);
            }
            next = account.parent;
        }
        None
    }

    /// Opens an account with `budget` bytes under `parent` (`None`: a root).
    /// The parent must be open.
    pub fn open(
        &mut self,
        parent: Option<AccountId>,
        budget: u64,
    ) -> Result<AccountId, BudgetError> {
        let parent_index = match parent {
            Some(id) => {
                let account = self.slot(id).ok_or(BudgetError::UnknownAccount)?;
                if !account.open {
                    return Err(BudgetError::UnknownAccount);
                }
                Some(id.index)
            }
            None => None,
        };
        let index = self
            .accounts
            .iter()
            .position(Option::is_none)
            .ok_or(BudgetError::Full)?;
        self.generations[index] = self.generations[index].wrapping_add(1);
        self.accounts[index] = Some(Account {
            parent: parent_index,
            budget,
            own: 0,
            subtree: 0,
            peak: 0,
            children: 0,
            open: true,
            refusals: 0,
            tag: 0,
        });
        if let Some(parent) = parent_index
            && let Some(account) = self.accounts[usize::from(parent)].as_mut()
        {
            account.children += 1;
        }
        // `index` < N <= 65 536 (checked in `new`).
        Ok(self.id_of(index as u16))
    }

    /// Names open account `id` by `tag` (the kernel: its agent's id), for
    /// [`Self::find`] and the [`TreeRecord`]s.
    pub fn bind(&mut self, id: AccountId, tag: u64) -> Result<(), BudgetError> {
        let index = usize::from(id.index);
        if self.slot(id).is_none_or(|account| !account.open) {
            return Err(BudgetError::UnknownAccount);
        }
        if let Some(account) = self.accounts[index].as_mut() {
            account.tag = tag;
        }
        Ok(())
    }

    /// Returns the open account bound to `tag`.
    pub fn find(&self, tag: u64) -> Option<AccountId> {
        if tag == 0 {
            return None;
        }
        self.accounts
            .iter()
            .position(|account| account.is_some_and(|account| account.open && account.tag == tag))
            .map(|index| self.id_of(index as u16))
    }

    /// Charges `bytes` to open account `id` and its ancestors, or refuses
    /// with [`BudgetError::OverBudget`] naming the first account on the
    /// chain that would pass its budget (nothing changes then).
    pub fn charge(&mut self, id: AccountId, bytes: u64) -> Result<(), BudgetError> {
        if self.slot(id).is_none_or(|account| !account.open) {
            return Err(BudgetError::UnknownAccount);
        }
        if let Some(at) = self.first_over_budget(id.index, bytes) {
            self.refusals = self.refusals.saturating_add(1);
            if let Some(account) = self.accounts[usize::from(at)].as_mut() {
                account.refusals = account.refusals.saturating_add(1);
            }
            return Err(BudgetError::OverBudget(self.id_of(at)));
        }
        let mut peak_ppm = self.peak_ppm;
        self.walk_up(id.index, |account| {
            // Checked above: no overflow, within budget.
            account.subtree += bytes;
            account.peak = account.peak.max(account.subtree);
            if account.parent.is_none() {
                peak_ppm = peak_ppm.max(share_ppm(account.subtree, account.budget));
            }
        });
        self.peak_ppm = peak_ppm;
        if let Some(account) = self.accounts[usize::from(id.index)].as_mut() {
            account.own += bytes;
        }
        Ok(())
    }

    /// Gives back `bytes` of what open account `id` holds (at most all of
    /// it); returns the bytes released. A closed or unknown account
    /// releases nothing: closing gave everything back already.
    pub fn release(&mut self, id: AccountId, bytes: u64) -> u64 {
        let Some(account) = self.slot(id).filter(|account| account.open) else {
            return 0;
        };
        let bytes = bytes.min(account.own);
        self.take_from_chain(id.index, bytes);
        bytes
    }

    /// Subtracts `bytes` (at most the account's own charges) from account
    /// `index`'s own charges and from the subtree of its whole chain.
    fn take_from_chain(&mut self, index: u16, bytes: u64) {
        self.walk_up(index, |account| {
            account.subtree = account.subtree.saturating_sub(bytes);
        });
        if let Some(account) = self.accounts[usize::from(index)].as_mut() {
            account.own = account.own.saturating_sub(bytes);
        }
    }

    /// Ends account `id`: releases everything it holds, then takes it out
    /// (its children, if any, move to its parent) or, for a root with
    /// descendants, keeps it closed until the last of them is gone. Returns
    /// the bytes released. Closing a closed or unknown account does nothing.
    pub fn close(&mut self, id: AccountId) -> u64 {
        let Some(account) = self.slot(id).copied().filter(|account| account.open) else {
            return 0;
        };
        self.take_from_chain(id.index, account.own);
        if let Some(closing) = self.accounts[usize::from(id.index)].as_mut() {
            closing.open = false;
        }
        match (account.children, account.parent) {
            (0, _) => self.remove(id.index),
            (_, Some(parent)) => {
                for other in self.accounts.iter_mut().flatten() {
                    if other.parent == Some(id.index) {
                        other.parent = Some(parent);
                    }
                }
                if let Some(parent) = self.accounts[usize::from(parent)].as_mut() {
                    parent.children += account.children;
                }
                if let Some(closing) = self.accounts[usize::from(id.index)].as_mut() {
                    closing.children = 0;
                }
                self.remove(id.index);
            }
            // A root with descendants stays, closed, for their charges.
            (_, None) => {}
        }
        account.own
    }

    /// Takes childless account `index` out; a closed parent left without
    /// children goes too (closed accounts are roots, so this ends there).
    fn remove(&mut self, index: u16) {
        let mut next = Some(index);
        for _ in 0..N {
            let Some(at) = next else {
                return;
            };
            let Some(account) = self.accounts[usize::from(at)].take() else {
                return;
            };
            if account.parent.is_none() {
                self.remember(&account);
            }
            next = account.parent.filter(|&parent| {
                self.accounts[usize::from(parent)]
                    .as_mut()
                    .is_some_and(|parent| {
                        parent.children = parent.children.saturating_sub(1);
                        !parent.open && parent.children == 0
                    })
            });
        }
    }

    fn remember(&mut self, root: &Account) {
        self.closed[self.next_closed] = Some(TreeRecord {
            tag: root.tag,
            budget: root.budget,
            peak: root.peak,
            refusals: root.refusals,
        });
        self.next_closed = (self.next_closed + 1) % CLOSED_TREES_KEPT;
    }

    /// Returns (own charges, subtree charges, budget) of account `id`, open
    /// or a closed root.
    pub fn usage(&self, id: AccountId) -> Option<(u64, u64, u64)> {
        self.slot(id)
            .map(|account| (account.own, account.subtree, account.budget))
    }

    /// Returns the root of `id`'s tree.
    pub fn root_of(&self, id: AccountId) -> Option<AccountId> {
        self.slot(id)?;
        self.chain(id.index).last().map(|index| self.id_of(index))
    }

    /// Returns the most `id` could still be charged now: the least headroom
    /// (budget less subtree) on its chain.
    pub fn headroom(&self, id: AccountId) -> Option<u64> {
        self.slot(id)?;
        self.chain(id.index)
            .filter_map(|at| self.accounts[usize::from(at)])
            .map(|account| account.budget.saturating_sub(account.subtree))
            .min()
    }

    /// Returns the records of the last [`CLOSED_TREES_KEPT`] roots whose
    /// last account went, oldest first.
    pub fn closed_trees(&self) -> impl Iterator<Item = TreeRecord> + '_ {
        (0..CLOSED_TREES_KEPT)
            .filter_map(move |offset| self.closed[(self.next_closed + offset) % CLOSED_TREES_KEPT])
    }

    /// Returns totals over the ledger.
    pub fn stats(&self) -> LedgerStats {
        let accounts = self.accounts.iter().flatten();
        LedgerStats {
            accounts: accounts.clone().count(),
            charged: accounts
                .filter(|account| account.parent.is_none())
                .map(|account| account.subtree)
                .fold(0u64, u64::saturating_add),
            refusals: self.refusals,
            peak_ppm: self.peak_ppm,
        }
    }
}

/// Returns `part` of `whole` in parts per million (saturating; 0 of 0 is 0).
const fn share_ppm(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 0;
    }
    let ppm = (part as u128) * 1_000_000 / (whole as u128);
    if ppm > u64::MAX as u128 {
        u64::MAX
    } else {
        ppm as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn ledger() -> Ledger<8> {
        Ledger::new()
    }

    #[test]
    fn worst_case_counts_pages_and_their_tables() {
        assert_eq!(worst_case_frames(0), 0);
        // One page: the page and one table per level.
        assert_eq!(worst_case_frames(1), 4);
        // 16 pages may straddle a 2 MiB, a 1 GiB and a 512 GiB boundary.
        assert_eq!(worst_case_frames(16), 16 + 2 + 2 + 2);
        // 512 pages fill one level-1 table only when aligned.
        assert_eq!(worst_case_frames(512), 512 + 2 + 2 + 2);
        // 4096 pages (16 MiB): 8 level-1 tables, plus one for the start.
        assert_eq!(worst_case_frames(4096), 4096 + 9 + 2 + 2);
        assert_eq!(worst_case_frames(u64::MAX), u64::MAX);
        assert_eq!(frames_to_bytes(2), 8192);
        assert_eq!(frames_to_bytes(u64::MAX), u64::MAX);
    }

    #[test]
    fn charges_count_against_every_ancestor() {
        let mut ledger = ledger();
        let root = ledger.open(None, 10 * MIB).unwrap();
        let child = ledger.open(Some(root), 10 * MIB).unwrap();
        let grandchild = ledger.open(Some(child), 10 * MIB).unwrap();
        ledger.charge(root, 2 * MIB).unwrap();
        ledger.charge(child, 3 * MIB).unwrap();
        ledger.charge(grandchild, 4 * MIB).unwrap();
        assert_eq!(ledger.usage(root), Some((2 * MIB, 9 * MIB, 10 * MIB)));
        assert_eq!(ledger.usage(child), Some((3 * MIB, 7 * MIB, 10 * MIB)));
        assert_eq!(ledger.usage(grandchild), Some((4 * MIB, 4 * MIB, 10 * MIB)));
        assert_eq!(ledger.headroom(grandchild), Some(MIB));
        // The grandchild's own budget has room; the root's has not.
        assert_eq!(
            ledger.charge(grandchild, 2 * MIB),
            Err(BudgetError::OverBudget(root))
        );
        // A refusal changes nothing.
        assert_eq!(ledger.usage(root), Some((2 * MIB, 9 * MIB, 10 * MIB)));
        assert_eq!(ledger.stats().refusals, 1);
        // Exactly up to the budget is allowed.
        ledger.charge(grandchild, MIB).unwrap();
        assert_eq!(ledger.headroom(root), Some(0));
        assert_eq!(ledger.stats().peak_ppm, 1_000_000);
    }

    #[test]
    fn a_smaller_child_budget_binds_the_child_only() {
        let mut ledger = ledger();
        let root = ledger.open(None, 10 * MIB).unwrap();
        let child = ledger.open(Some(root), MIB).unwrap();
        assert_eq!(
            ledger.charge(child, 2 * MIB),
            Err(BudgetError::OverBudget(child))
        );
        ledger.charge(root, 5 * MIB).unwrap();
        ledger.charge(child, MIB).unwrap();
        assert_eq!(ledger.headroom(root), Some(4 * MIB));
        assert_eq!(ledger.headroom(child), Some(0));
    }

    #[test]
    fn release_goes_up_the_chain_and_never_below_zero() {
        let mut ledger = ledger();
        let root = ledger.open(None, 10 * MIB).unwrap();
        let child = ledger.open(Some(root), 10 * MIB).unwrap();
        ledger.charge(child, 3 * MIB).unwrap();
        assert_eq!(ledger.release(child, MIB), MIB);
        assert_eq!(ledger.usage(root), Some((0, 2 * MIB, 10 * MIB)));
        // More than it holds: only what it holds.
        assert_eq!(ledger.release(child, 100 * MIB), 2 * MIB);
        assert_eq!(ledger.usage(root), Some((0, 0, 10 * MIB)));
        // The root's release cannot take the child's charges.
        ledger.charge(child, MIB).unwrap();
        assert_eq!(ledger.release(root, MIB), 0);
        assert_eq!(ledger.usage(root), Some((0, MIB, 10 * MIB)));
    }

    #[test]
    fn overflow_is_refused() {
        let mut ledger = ledger();
        let root = ledger.open(None, u64::MAX).unwrap();
        ledger.charge(root, u64::MAX - 1).unwrap();
        assert_eq!(ledger.charge(root, 2), Err(BudgetError::OverBudget(root)));
        ledger.charge(root, 1).unwrap();
        assert_eq!(ledger.charge(root, 1), Err(BudgetError::OverBudget(root)));
        assert_eq!(ledger.usage(root), Some((u64::MAX, u64::MAX, u64::MAX)));
    }

    #[test]
    fn closing_releases_everything_and_frees_the_slot() {
        let mut ledger = ledger();
        let root = ledger.open(None, 10 * MIB).unwrap();
        ledger.bind(root, 7).unwrap();
        let child = ledger.open(Some(root), 10 * MIB).unwrap();
        ledger.charge(child, 3 * MIB).unwrap();
        ledger.charge(root, MIB).unwrap();
        assert_eq!(ledger.close(child), 3 * MIB);
        assert_eq!(ledger.usage(root), Some((MIB, MIB, 10 * MIB)));
        assert_eq!(ledger.usage(child), None);
        // A stale handle does nothing, also once the slot is reused.
        let reuse = ledger.open(Some(root), MIB).unwrap();
        assert_eq!(ledger.release(child, MIB), 0);
        assert_eq!(ledger.charge(child, 1), Err(BudgetError::UnknownAccount));
        assert_eq!(ledger.close(child), 0);
        assert_eq!(ledger.usage(reuse), Some((0, 0, MIB)));
        ledger.close(reuse);
        assert_eq!(ledger.close(root), MIB);
        assert_eq!(
            ledger.stats(),
            LedgerStats {
                accounts: 0,
                charged: 0,
                refusals: 0,
                peak_ppm: 400_000,
            }
        );
        let record = ledger.closed_trees().last().unwrap();
        assert_eq!(
            record,
            TreeRecord {
                tag: 7,
                budget: 10 * MIB,
                peak: 4 * MIB,
                refusals: 0,
            }
        );
    }

    #[test]
    fn orphans_still_count_against_the_closed_root() {
        let mut ledger = ledger();
        let root = ledger.open(None, 10 * MIB).unwrap();
        let child = ledger.open(Some(root), 20 * MIB).unwrap();
        ledger.charge(root, 4 * MIB).unwrap();
        ledger.charge(child, 2 * MIB).unwrap();
        // The root ends first: its own charges go, the child's stay on it.
        assert_eq!(ledger.close(root), 4 * MIB);
        assert_eq!(ledger.usage(root), Some((0, 2 * MIB, 10 * MIB)));
        assert_eq!(ledger.charge(child, 8 * MIB), Ok(()));
        assert_eq!(ledger.charge(child, 1), Err(BudgetError::OverBudget(root)));
        // Nobody can open a child under the closed root.
        assert_eq!(
            ledger.open(Some(root), MIB),
            Err(BudgetError::UnknownAccount)
        );
        assert_eq!(ledger.stats().accounts, 2);
        // Its last descendant gone, the root goes too.
        ledger.close(child);
        assert_eq!(ledger.usage(root), None);
        assert_eq!(ledger.stats().accounts, 0);
        assert_eq!(ledger.closed_trees().last().unwrap().refusals, 1);
    }

    #[test]
    fn a_closed_middle_account_hands_its_children_up() {
        let mut ledger = ledger();
        let root = ledger.open(None, 10 * MIB).unwrap();
        let middle = ledger.open(Some(root), 10 * MIB).unwrap();
        let leaf_a = ledger.open(Some(middle), 10 * MIB).unwrap();
        let leaf_b = ledger.open(Some(middle), 10 * MIB).unwrap();
        ledger.charge(middle, MIB).unwrap();
        ledger.charge(leaf_a, 2 * MIB).unwrap();
        ledger.charge(leaf_b, 3 * MIB).unwrap();
        assert_eq!(ledger.close(middle), MIB);
        assert_eq!(ledger.usage(middle), None);
        assert_eq!(ledger.root_of(leaf_a), Some(root));
        assert_eq!(ledger.usage(root), Some((0, 5 * MIB, 10 * MIB)));
        // The leaves' charges still reach the root.
        assert_eq!(
            ledger.charge(leaf_a, 6 * MIB),
            Err(BudgetError::OverBudget(root))
        );
        ledger.close(leaf_a);
        ledger.close(leaf_b);
        assert_eq!(ledger.usage(root), Some((0, 0, 10 * MIB)));
        ledger.close(root);
        assert_eq!(ledger.stats().accounts, 0);
    }

    #[test]
    fn a_chain_of_exited_parents_leaves_one_closed_root() {
        // Each agent spawns the next and exits: the ledger must not keep one
        // account per ended agent.
        let mut ledger = ledger();
        let root = ledger.open(None, 10 * MIB).unwrap();
        let mut last = ledger.open(Some(root), 10 * MIB).unwrap();
        ledger.close(root);
        for _ in 0..100 {
            let next = ledger.open(Some(last), 10 * MIB).unwrap();
            ledger.close(last);
            last = next;
        }
        assert_eq!(ledger.stats().accounts, 2);
        assert_eq!(ledger.root_of(last), Some(root));
        ledger.charge(last, 10 * MIB).unwrap();
        assert!(ledger.charge(last, 1).is_err());
        ledger.close(last);
        assert_eq!(ledger.stats().accounts, 0);
    }

    #[test]
    fn a_full_ledger_refuses_and_recovers() {
        let mut ledger: Ledger<2> = Ledger::new();
        let first = ledger.open(None, MIB).unwrap();
        let second = ledger.open(Some(first), MIB).unwrap();
        assert_eq!(ledger.open(Some(first), MIB), Err(BudgetError::Full));
        assert_eq!(ledger.open(None, MIB), Err(BudgetError::Full));
        ledger.close(second);
        assert!(ledger.open(None, MIB).is_ok());
    }

    #[test]
    fn find_names_open_accounts_only() {
        let mut ledger = ledger();
        let root = ledger.open(None, MIB).unwrap();
        let child = ledger.open(Some(root), MIB).unwrap();
        assert_eq!(ledger.find(5), None);
        ledger.bind(root, 5).unwrap();
        ledger.bind(child, 6).unwrap();
        assert_eq!(ledger.find(5), Some(root));
        assert_eq!(ledger.find(6), Some(child));
        assert_eq!(ledger.find(0), None);
        ledger.close(root);
        // Kept for the child, but closed: not found, not bindable.
        assert_eq!(ledger.find(5), None);
        assert_eq!(ledger.bind(root, 9), Err(BudgetError::UnknownAccount));
    }

    #[test]
    fn closed_trees_keep_the_last_few() {
        let mut ledger = ledger();
        for tag in 1..=(CLOSED_TREES_KEPT as u64 + 3) {
            let root = ledger.open(None, MIB).unwrap();
            ledger.bind(root, tag).unwrap();
            ledger.charge(root, tag).unwrap();
            ledger.close(root);
        }
        let tags: Vec<u64> = ledger.closed_trees().map(|record| record.tag).collect();
        assert_eq!(tags, (4..=11).collect::<Vec<u64>>());
        assert!(
            ledger
                .closed_trees()
                .all(|record| record.peak == record.tag)
        );
    }
}
