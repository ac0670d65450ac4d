//! Synchronous message passing between agents on numbered endpoints.
//!
//! `send` queues a message on an endpoint and blocks the sender until a
//! receiver takes it; `call` does the same and then blocks until the receiver
//! replies; `receive` blocks until a message is queued and takes the oldest,
//! so every endpoint delivers in order. Messages are at most
//! [`MAX_MESSAGE_BYTES`] and copied inline; at most [`MAX_QUEUED`] wait on one
//! endpoint, at most [`MAX_QUEUED_PER_TREE`] of them from one agent tree (a
//! further `send` gets `Exhausted` instead of blocking), so a flooding tree
//! leaves room for the others. An agent's tree is its top-level user
//! agent, fixed at spawn (`UserProcess::tree`): a tree whose top agent
//! exits does not split into many trees with a share each. When an agent exits, callers waiting for its
//! reply get `PeerGone`. While its `send` or `call` lasts, a user agent's
//! memory budget is charged the kernel memory its message and state take
//! ([`BYTES_PER_SENDER`]): `OutOfMemory` when that would pass its tree's
//! budget.
//!
//! Every blocking operation takes a [`Deadline`]: when it comes first, a
//! queued message is withdrawn (or a taken call's reply refused) and the
//! caller gets `TimedOut`. The wait itself is a block on the task event
//! with a wake-up deadline ([`task::wait_until`]), not a poll.
//!
//! The first agent to `receive` on an endpoint owns its receive right until
//! it exits (another agent's `receive` there gets `PermissionDenied`); then
//! the endpoint is dead: its queued senders are woken with `PeerGone`, and
//! later `send`/`call`s get `PeerGone` until a new agent receives on it. A
//! `call` that would close a cycle of agents each blocked calling the next
//! gets `WouldDeadlock` (checked in `kernel-core`).
//!
//! The queues and the senders' states are [`IpcQueues`] from `kernel-core`
//! (host-tested there); this module adds the blocking. Waiting uses task
//! events: one per endpoint for arrivals, one for every change of a sender's
//! state; the generation of the event is read under the same lock as the
//! state, so no wake-up is lost. A taken message or a reply wakes only its
//! sender ([`task::signal_agent`]), not every blocked sender (a flood of
//! blocked callers would otherwise all wake on every message); an exit
//! wakes them all.

use agent_abi::{Error, MAX_ENDPOINTS, MAX_MESSAGE_BYTES};
use kernel_core::ipc_queue::{BYTES_PER_SENDER, IpcError, IpcQueues, MESSAGE_BYTES, SendOutcome};
use spin::Mutex;

use crate::{
    arch::cpu::without_interrupts,
    task::{self, EventId},
};

pub use kernel_core::{
    deadline::Deadline,
    ipc_queue::{MAX_QUEUED, MAX_QUEUED_PER_TREE, Message},
};

const ENDPOINTS: usize = MAX_ENDPOINTS as usize;
const _: () = assert!(
    MESSAGE_BYTES == MAX_MESSAGE_BYTES as usize,
    "kernel-core's inline message size must be the ABI's"
);
const _: () = assert!(
    MAX_QUEUED == agent_abi::MAX_QUEUED_MESSAGES as usize
        && MAX_QUEUED_PER_TREE == agent_abi::MAX_QUEUED_PER_TREE as usize,
    "kernel-core's queue bounds must be the ABI's"
);
const _: () = assert!(
    kernel_core::deadline::FOREVER == agent_abi::TIMEOUT_FOREVER,
    "kernel-core's endless timeout must be the ABI's"
);

/// Returns the syscall error for an IPC refusal (a function, not `From`:
/// both types are foreign to this crate).
fn ipc_error(error: IpcError) -> Error {
    match error {
        IpcError::InvalidEndpoint => Error::InvalidArgument,
        IpcError::QueueFull | IpcError::TreeShareFull => Error::Exhausted,
        IpcError::NotAwaited => Error::NotFound,
        IpcError::PeerGone => Error::PeerGone,
        IpcError::NotOwner => Error::PermissionDenied,
        IpcError::WouldDeadlock => Error::WouldDeadlock,
    }
}

struct Ipc {
    queues: IpcQueues<ENDPOINTS>,
    arrivals: [Option<EventId>; ENDPOINTS],
    changes: Option<EventId>,
}

static IPC: Mutex<Ipc> = Mutex::new(Ipc {
    queues: IpcQueues::new(),
    arrivals: [None; ENDPOINTS],
    changes: None,
});

impl Ipc {
    fn arrival_event(&mut self, endpoint: usize) -> Result<EventId, Error> {
        if let Some(event) = self.arrivals[endpoint] {
            return Ok(event);
        }
        let event = task::new_event().ok_or(Error::Exhausted)?;
        self.arrivals[endpoint] = Some(event);
        Ok(event)
    }

    fn change_event(&mut self) -> Result<EventId, Error> {
        if let Some(event) = self.changes {
            return Ok(event);
        }
        let event = task::new_event().ok_or(Error::Exhausted)?;
        self.changes = Some(event);
        Ok(event)
    }
}

fn with_ipc<R>(action: impl FnOnce(&mut Ipc) -> R) -> R {
    without_interrupts(|| action(&mut IPC.lock()))
}

fn check_endpoint(endpoint: u64) -> Result<usize, Error> {
    IpcQueues::<ENDPOINTS>::endpoint_index(endpoint).map_err(ipc_error)
}

/// Sends `message` from agent `sender`, of agent tree `tree` (its
/// top-level user agent, or itself), to `endpoint`; with `call`, waits for
/// and returns the reply. Blocks the calling agent until then or until
/// `deadline` (then `TimedOut`, the message withdrawn).
pub fn send(
    sender: u64,
    tree: u64,
    endpoint: u64,
    message: Message,
    call: bool,
    deadline: Deadline,
) -> Result<Message, Error> {
    let endpoint = check_endpoint(endpoint)?;
    // Released when the send ends, or with the account if the agent ends.
    let _charge = super::budget::charge_current(BYTES_PER_SENDER as u64)?;
    with_ipc(|ipc| {
        // The events come first; a full queue refuses after them with the
        // same `Exhausted`, and its events exist already (made by the sends
        // that filled it), so nothing differs from refusing first.
        let arrival = ipc.arrival_event(endpoint)?;
        ipc.change_event()?;
        ipc.queues
            .enqueue_for(endpoint, sender, tree, message, call)
            .map_err(ipc_error)?;
        task::signal(arrival);
        Ok::<_, Error>(())
    })?;
    loop {
        let outcome = with_ipc(|ipc| {
            let event = ipc.change_event()?;
            let generation = task::event_generation(event);
            match ipc.queues.sender_outcome(sender) {
                SendOutcome::Waiting if deadline.has_passed(crate::time::now_us()) => {
                    ipc.queues.cancel(sender);
                    Err(Error::TimedOut)
                }
                SendOutcome::Waiting => Ok(Err((event, generation))),
                SendOutcome::Delivered(reply) => Ok(Ok(reply)),
                SendOutcome::PeerGone => Err(Error::PeerGone),
            }
        })?;
        match outcome {
            Ok(reply) => return Ok(reply),
            Err((event, generation)) => task::wait_until(event, generation, deadline.at_us()),
        }
    }
}

/// Takes the oldest message on `endpoint` for agent `receiver`, blocking
/// until there is one or until `deadline` (then `TimedOut`; the receiver
/// keeps the endpoint). Returns the sender and the message.
pub fn receive(receiver: u64, endpoint: u64, deadline: Deadline) -> Result<(u64, Message), Error> {
    let endpoint = check_endpoint(endpoint)?;
    with_ipc(|ipc| ipc.queues.claim(endpoint, receiver)).map_err(ipc_error)?;
    loop {
        let outcome = with_ipc(|ipc| {
            let arrival = ipc.arrival_event(endpoint)?;
            let change = ipc.change_event()?;
            let generation = task::event_generation(arrival);
            let Some(delivery) = ipc.queues.dequeue(endpoint, receiver) else {
                if deadline.has_passed(crate::time::now_us()) {
                    return Err(Error::TimedOut);
                }
                return Ok::<_, Error>(Err((arrival, generation)));
            };
            // Only the sender whose message was taken wakes.
            task::signal_agent(change, delivery.0);
            Ok(Ok(delivery))
        })?;
        match outcome {
            Ok(message) => return Ok(message),
            Err((event, generation)) => task::wait_until(event, generation, deadline.at_us()),
        }
    }
}

/// Returns the endpoint through which `caller` waits for a reply from
/// `receiver`, if it does.
pub fn awaited_endpoint(receiver: u64, caller: u64) -> Option<usize> {
    with_ipc(|ipc| ipc.queues.awaited_endpoint(receiver, caller))
}

/// Answers `caller`, which waits in `call` for a reply from `receiver`.
pub fn reply(receiver: u64, caller: u64, message: Message) -> Result<(), Error> {
    with_ipc(|ipc| {
        let change = ipc.change_event()?;
        ipc.queues
            .reply(receiver, caller, message)
            .map_err(ipc_error)?;
        task::signal_agent(change, caller);
        Ok(())
    })
}

/// Forgets agent `agent`: callers waiting for its reply get `PeerGone`, and
/// messages it queued are dropped.
pub fn on_agent_exit(agent: u64) {
    with_ipc(|ipc| {
        if ipc.queues.remove_agent(agent)
            && let Some(event) = ipc.changes
        {
            task::signal(event);
        }
    });
}
