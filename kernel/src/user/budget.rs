//! Memory budgets of user agents: the kernel's ledger and the handles that charge it.
//!
//! Every user agent has an [`Account`] in one ledger ([`Ledger`] from
//! `kernel-core`, which owns the rules and is host-tested there) with a
//! budget of [`AGENT_BUDGET_BYTES`]; its children's accounts sit under it,
//! so a charge counts against the agent and all its ancestors and a tree
//! can never hold more than its root's budget. Charged, by the code that
//! causes each:
//! - its kernel stack ([`KERNEL_STACK_BYTES`]) and its image, user stack and
//!   page tables, at spawn (`user::spawn`, the image at its worst case
//!   before it is loaded, then settled to what the load took);
//! - each page `map` adds, with the page tables it needed
//!   ([`super::UserProcess::map_page`]), and the kernel's record of each
//!   mapping (`kernel_core::map_window::BYTES_PER_WINDOW`); `unmap` gives
//!   them back;
//! - a message it has queued in the kernel, while its `send` or `call`
//!   lasts ([`super::ipc::send`]);
//! - the device buffer of its `accel_copy` (the DMA bounce frame or the
//!   CPU route's kernel-side buffer) while the copy lasts (`accel`).
//!
//! A refused charge is `OutOfMemory` for the operation that asked, and only
//! for it. The account is closed when the agent's process is dropped (the
//! agent is freed, however it ended), which releases all it still holds.
//! The kernel's frame reserve (`kernel_core::frame_reserve`) stays the
//! last line below the budgets: many trees together still cannot take it.

use alloc::vec::Vec;

use agent_abi::Error;
use kernel_core::memory_budget::{AccountId, BudgetError, Ledger, LedgerStats, TreeRecord};
use spin::Mutex;

use crate::{arch::cpu::without_interrupts, memory::stack::AGENT_STACK_PAGES};

pub use kernel_core::memory_budget::{frames_to_bytes, worst_case_frames};

/// The memory budget of every user agent and so of every tree (a tree's
/// root's budget bounds all of it), bytes: see
/// [`agent_abi::AGENT_MEMORY_BUDGET_BYTES`].
pub const AGENT_BUDGET_BYTES: u64 = agent_abi::AGENT_MEMORY_BUDGET_BYTES;
/// What an agent's kernel stack is charged.
pub const KERNEL_STACK_BYTES: u64 = frames_to_bytes(AGENT_STACK_PAGES);
/// Accounts the ledger holds: three per agent slot is always enough (its
/// own, one a spawn is opening, a closed root kept for its orphans; see
/// `kernel_core::memory_budget`).
const ACCOUNTS: usize = 3 * sched_rl::MAX_AGENTS;

static LEDGER: Mutex<Ledger<ACCOUNTS>> = Mutex::new(Ledger::new());

fn with_ledger<R>(action: impl FnOnce(&mut Ledger<ACCOUNTS>) -> R) -> R {
    without_interrupts(|| action(&mut LEDGER.lock()))
}

/// Returns the syscall error for a ledger refusal.
fn budget_error(error: BudgetError) -> Error {
    match error {
        BudgetError::Full => Error::Exhausted,
        BudgetError::OverBudget(_) | BudgetError::UnknownAccount => Error::OutOfMemory,
    }
}

/// An agent's open account; dropping it closes the account, releasing
/// everything still charged to it.
#[derive(Debug)]
pub struct Account {
    id: AccountId,
}

impl Account {
    /// Opens an account with [`AGENT_BUDGET_BYTES`] under `parent` (`None`:
    /// the root of a new tree).
    pub fn open(parent: Option<AccountId>) -> Result<Self, Error> {
        with_ledger(|ledger| ledger.open(parent, AGENT_BUDGET_BYTES))
            .map(|id| Self { id })
            .map_err(budget_error)
    }

    /// Returns the ledger's name for the account.
    pub fn id(&self) -> AccountId {
        self.id
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        with_ledger(|ledger| ledger.close(self.id));
    }
}

/// Charges `bytes` to account `id` and its ancestors; `OutOfMemory` when
/// that would pass a budget on the chain.
pub fn charge(id: AccountId, bytes: u64) -> Result<(), Error> {
    with_ledger(|ledger| ledger.charge(id, bytes)).map_err(budget_error)
}

/// Gives back `bytes` charged to account `id` (nothing if it is closed).
pub fn release(id: AccountId, bytes: u64) {
    with_ledger(|ledger| ledger.release(id, bytes));
}

/// Names account `id` by its agent's id `pid`.
pub fn bind(id: AccountId, pid: u64) {
    let _ = with_ledger(|ledger| ledger.bind(id, pid));
}

/// Returns the account of live user agent `pid`.
pub fn account_of(pid: u64) -> Option<AccountId> {
    with_ledger(|ledger| ledger.find(pid))
}

/// A charge released when dropped (or, if the agent ends first, when its
/// account closes).
#[derive(Debug)]
pub struct Charge {
    id: AccountId,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        release(self.id, self.bytes);
    }
}

/// Charges `bytes` to the running user agent for as long as the returned
/// [`Charge`] lives; `Ok(None)` for kernel agents (not charged).
pub fn charge_current(bytes: u64) -> Result<Option<Charge>, Error> {
    let Some(id) = super::with_current_process(|process| process.account.id()) else {
        return Ok(None);
    };
    charge(id, bytes)?;
    Ok(Some(Charge { id, bytes }))
}

/// Returns (own charges, whole tree's charges under it, budget) of live
/// user agent `pid`, bytes.
pub fn usage_of(pid: u64) -> Option<(u64, u64, u64)> {
    with_ledger(|ledger| ledger.find(pid).and_then(|id| ledger.usage(id)))
}

/// Returns the ledger's totals.
pub fn stats() -> LedgerStats {
    with_ledger(|ledger| ledger.stats())
}

/// Returns what the last trees whose every agent ended used, oldest first.
pub fn closed_trees() -> Vec<TreeRecord> {
    let mut records = Vec::with_capacity(kernel_core::memory_budget::CLOSED_TREES_KEPT);
    with_ledger(|ledger| records.extend(ledger.closed_trees()));
    records
}
