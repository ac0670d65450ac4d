//! User-mode agents: programs from the boot ramdisk running in ring 3.
//!
//! A user agent is a task (see [`crate::task`]) whose kernel-side code
//! enters ring 3 once and never returns to kernel code of its own: from then
//! on it reaches the kernel only through syscalls ([`crate::syscall`]) and
//! faults. Its [`UserProcess`] holds the address space, the capability set,
//! its anonymous mappings and its memory account ([`budget`]); the task
//! manager switches CR3 and the ring-0 stack with the agent.
//!
//! A fault in ring 3 ends only the faulting agent, with exit status
//! `FAULT_STATUS_BASE - vector` and the report in the log.

pub mod budget;
pub mod ipc;
pub mod loader;

use alloc::{boxed::Box, format, string::String, vec::Vec};

use agent_abi::{CapabilitySet, Error};
use sched_rl::ClassHint;
use x86_64::structures::paging::PageTableFlags;

use crate::{
    arch::{exceptions::ExceptionReport, syscall, vector::VectorState},
    memory::address_space::{AddressSpace, MapError, page_of},
    task,
};

/// Exit status of an agent killed by CPU exception `vector`:
/// `FAULT_STATUS_BASE - vector`.
pub const FAULT_STATUS_BASE: i64 = -1000;
/// Directory of agent programs inside the boot ramdisk.
pub const PROGRAM_DIRECTORY: &str = "agents/";
/// Most user pages one agent may have mapped through `map` (its quota),
/// defined with the rest of the map-window bookkeeping in `kernel-core`.
pub use kernel_core::map_window::{MAP_QUOTA_PAGES, MapWindows};

/// The ring-3 side of an agent.
pub struct UserProcess {
    /// Program name (its ramdisk file without the directory).
    pub program: String,
    /// What the agent may do.
    pub capabilities: CapabilitySet,
    /// Its page tables.
    pub address_space: AddressSpace,
    /// Ranges given by `map`, and the pages they count against the quota.
    pub map_windows: MapWindows,
    /// Syscalls made.
    pub syscalls: u64,
    /// Syscalls that returned an error.
    pub syscall_errors: u64,
    /// Log lines the agent may still write now (see [`LOG_LINES_PER_SECOND`]).
    pub log_tokens: u64,
    /// When `log_tokens` was last refilled, µs.
    pub log_refilled_us: u64,
    /// Log lines refused by the rate limit.
    pub log_dropped: u64,
    /// The top-level user agent it descends from, fixed at spawn (`None`:
    /// it is one itself): its IPC messages count against that tree's share
    /// of an endpoint's queue, even after the top-level agent exited.
    pub tree: Option<u64>,
    /// Its x87/SSE/AVX registers while another user agent has the CPU's
    /// (`None` where the CPU has no FXSAVE: then no agent may use them).
    pub vector: Option<VectorState>,
    /// What the agent's memory is charged to; declared last, so it closes
    /// (releasing every charge) after the address space is freed.
    pub account: budget::Account,
}

impl task::TaskData for UserProcess {
    fn address_space(&self) -> Option<&AddressSpace> {
        Some(&self.address_space)
    }

    fn vector_state(&mut self) -> Option<&mut VectorState> {
        self.vector.as_mut()
    }
}

/// Returns the top-level user agent the running agent descends from
/// (`None`: it is one itself, or a kernel agent).
pub fn current_tree() -> Option<u64> {
    with_current_process(|process| process.tree).flatten()
}

/// Runs `action` on the running agent's process, with interrupts disabled
/// (keep it short). `None` for kernel agents.
pub fn with_current_process<R>(action: impl FnOnce(&mut UserProcess) -> R) -> Option<R> {
    task::with_current_data(action)
}

/// Registers the user layer's clean-up: IPC forgets every agent that ends.
pub fn init() {
    if task::on_agent_exit(ipc::on_agent_exit).is_err() {
        log::error!("user: no room for the IPC exit observer");
    }
}

/// Returns the bytes of the frames `space` holds: its user pages and its
/// page tables (the root included), what its agent's budget is charged.
fn footprint_bytes(space: &AddressSpace) -> u64 {
    budget::frames_to_bytes(space.user_pages() + space.table_frames())
}

/// Log lines an agent may write per second (and in one burst): a flood of
/// `log` calls gets `Exhausted` instead of drowning the console.
pub const LOG_LINES_PER_SECOND: u64 = 50;

impl UserProcess {
    /// Returns the bytes of the frames the address space holds.
    fn footprint_bytes(&self) -> u64 {
        footprint_bytes(&self.address_space)
    }

    /// Maps the user page at `address` to a fresh frame with `flags`,
    /// charged to the agent's budget with the page tables it needed:
    /// `OutOfMemory` when the page at its worst case (three new tables)
    /// would pass a budget of the agent's tree, or RAM (less the kernel's
    /// reserve) ran out.
    pub fn map_page(&mut self, address: u64, flags: PageTableFlags) -> Result<(), Error> {
        let account = self.account.id();
        let worst = budget::frames_to_bytes(budget::worst_case_frames(1));
        budget::charge(account, worst)?;
        let before = self.footprint_bytes();
        let result = self.address_space.map_user(page_of(address), flags);
        let used = self.footprint_bytes().saturating_sub(before);
        budget::release(account, worst.saturating_sub(used));
        match result {
            Ok(_) => Ok(()),
            Err(MapError::OutOfMemory) => Err(Error::OutOfMemory),
            Err(MapError::AlreadyMapped | MapError::NotUserAddress) => Err(Error::InvalidArgument),
        }
    }

    /// Unmaps the user page at `address` (if mapped) and gives its frame
    /// and the page tables it leaves empty back to the budget.
    pub fn unmap_page(&mut self, address: u64) {
        let before = self.footprint_bytes();
        let _ = self.address_space.unmap_user(page_of(address));
        let freed = before.saturating_sub(self.footprint_bytes());
        budget::release(self.account.id(), freed);
    }

    /// Takes one log token; returns false when the agent is over its rate.
    pub fn take_log_token(&mut self, now_us: u64) -> bool {
        let elapsed = now_us.saturating_sub(self.log_refilled_us);
        let refill = elapsed * LOG_LINES_PER_SECOND / 1_000_000;
        if refill > 0 {
            self.log_tokens = (self.log_tokens + refill).min(LOG_LINES_PER_SECOND);
            self.log_refilled_us = now_us;
        }
        if self.log_tokens == 0 {
            self.log_dropped += 1;
            return false;
        }
        self.log_tokens -= 1;
        true
    }
}

/// Why a program could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnUserError {
    /// No such program in the ramdisk.
    NotFound,
    /// The image was refused.
    BadImage(loader::LoadError),
    /// Memory ran out.
    OutOfMemory,
    /// No agent slot or stack was free.
    Exhausted,
}

impl From<SpawnUserError> for Error {
    fn from(error: SpawnUserError) -> Self {
        match error {
            SpawnUserError::NotFound => Error::NotFound,
            SpawnUserError::BadImage(loader::LoadError::OutOfMemory)
            | SpawnUserError::OutOfMemory => Error::OutOfMemory,
            SpawnUserError::BadImage(_) => Error::BadImage,
            SpawnUserError::Exhausted => Error::Exhausted,
        }
    }
}

/// Returns the ramdisk image of program `name`, if it exists.
pub fn program_image(name: &str) -> Option<&'static [u8]> {
    let path = format!("{PROGRAM_DIRECTORY}{name}");
    crate::boot_args::indexed_file(&path)
}

/// Returns the names of the programs in the ramdisk.
pub fn program_names() -> Vec<String> {
    crate::boot_args::ramdisk_names()
        .into_iter()
        .filter_map(|name| name.strip_prefix(PROGRAM_DIRECTORY).map(String::from))
        .collect()
}

/// Starts program `name` from the ramdisk as a user agent with
/// `capabilities`, child of `parent` (an agent id, or 0 for the kernel).
/// Returns the new agent's id.
///
/// The child's memory account opens under its parent's (a kernel parent
/// starts a new tree) and is charged the kernel stack and the image before
/// anything is allocated for them: `OutOfMemory` when the tree's budget has
/// no room.
pub fn spawn(name: &str, capabilities: CapabilitySet, parent: u64) -> Result<u64, SpawnUserError> {
    let image = program_image(name).ok_or(SpawnUserError::NotFound)?;
    // Refused by the slot budgets before anything is loaded: a spawn bomb's
    // refused spawns stay cheap.
    task::check_spawn(parent).map_err(|_| SpawnUserError::Exhausted)?;
    // Agents that ended give their charges back first.
    task::bury_the_dead();
    let account = budget::Account::open(parent_account(parent)).map_err(|error| match error {
        Error::OutOfMemory => SpawnUserError::OutOfMemory,
        _ => SpawnUserError::Exhausted,
    })?;
    let account_id = account.id();
    budget::charge(account_id, budget::KERNEL_STACK_BYTES)
        .map_err(|_| SpawnUserError::OutOfMemory)?;
    // Its vector save area is its memory too.
    let vector_bytes = crate::arch::vector::unit().area_bytes;
    budget::charge(account_id, vector_bytes as u64).map_err(|_| SpawnUserError::OutOfMemory)?;
    let vector = VectorState::new();
    // A program a user agent starts is that tree's memory: it may not take
    // the kernel's reserve. The kernel's own spawns (the shell) may.
    let by_user = task::tree_root(parent).is_some();
    let mut reserved = 0;
    let loaded = loader::load(image, by_user, |frames| {
        let bytes = budget::frames_to_bytes(frames);
        let admitted = budget::charge(account_id, bytes).is_ok();
        if admitted {
            reserved = bytes;
        }
        admitted
    })
    .map_err(SpawnUserError::BadImage)?;
    let (entry, stack_pointer) = (loaded.entry, loaded.stack_pointer);
    let mut address_space = loaded.address_space;
    // The image was charged at its worst case: keep what it took.
    budget::release(
        account_id,
        reserved.saturating_sub(footprint_bytes(&address_space)),
    );
    // Pages it maps itself are user memory in every case.
    address_space.limit_to_user_memory();
    // A user parent spawns its children itself (the `spawn` syscall): the
    // child joins the parent's tree, fixed from now on.
    let tree = by_user.then(|| {
        let spawned_by_parent = task::current_pid() == parent;
        let parent_tree = spawned_by_parent.then(current_tree).flatten();
        parent_tree.or(task::tree_root(parent)).unwrap_or(parent)
    });
    let process = Box::new(UserProcess {
        program: String::from(name),
        capabilities,
        address_space,
        map_windows: MapWindows::new(),
        syscalls: 0,
        syscall_errors: 0,
        log_tokens: LOG_LINES_PER_SECOND,
        log_refilled_us: crate::time::now_us(),
        log_dropped: 0,
        tree,
        vector,
        account,
    });
    let pid = task::spawn_with_data(name, ClassHint::Unknown, process, parent, move || {
        // Only plain numbers live on this stack frame: nothing is leaked
        // when the agent ends inside ring 3.
        syscall::enter_user_mode(entry, stack_pointer)
    })
    .map_err(|error| match error {
        task::SpawnError::Stack(crate::memory::stack::StackError::OutOfMemory) => {
            SpawnUserError::OutOfMemory
        }
        _ => SpawnUserError::Exhausted,
    })?;
    budget::bind(account_id, pid);
    Ok(pid)
}

/// Returns the memory account a child of `parent` opens under: the running
/// agent's own when it is the parent (a child it starts may run before its
/// account is bound to its id), else the account bound to `parent`; `None`
/// for kernel parents (the child starts a tree).
fn parent_account(parent: u64) -> Option<kernel_core::memory_budget::AccountId> {
    if parent == 0 {
        return None;
    }
    if parent == task::current_pid()
        && let Some(id) = with_current_process(|process| process.account.id())
    {
        return Some(id);
    }
    budget::account_of(parent)
}

/// Ends the running user agent after a CPU exception in ring 3.
pub fn fault(report: &ExceptionReport) -> ! {
    {
        // Dropped before `exit`, which never returns (nor drops it).
        let (id, name) = task::current_identity();
        log::warn!("agent {id} ({name}) stopped: {report}");
    }
    task::exit(FAULT_STATUS_BASE - i64::from(report.vector))
}
