//! Synchronous message passing between agents on numbered endpoints.
//!
//! `send` queues a message on an endpoint and blocks the sender until a
//! receiver takes it; `call` does the same and then blocks until the receiver
//! replies; `receive` blocks until a message is queued and takes the oldest,
//! so every endpoint delivers in order. Messages are at most
//! [`MAX_MESSAGE_BYTES`] and copied inline; at most [`MAX_QUEUED`] wait on one
//! endpoint (a further `send` gets `Exhausted` instead of blocking forever).
//! When an agent exits, callers waiting for its reply get `PeerGone`.
//!
//! Waiting uses task events: one per endpoint for arrivals, one for every
//! change of a sender's state; the generation of the event is read under the
//! same lock as the state, so no wake-up is lost.

use alloc::{collections::VecDeque, vec::Vec};

use agent_abi::{Error, MAX_ENDPOINTS, MAX_MESSAGE_BYTES};
use spin::Mutex;

use crate::{
    arch::cpu::without_interrupts,
    task::{self, EventId},
};

/// Messages that may wait on one endpoint.
pub const MAX_QUEUED: usize = 16;
const ENDPOINTS: usize = MAX_ENDPOINTS as usize;
const MESSAGE_BYTES: usize = MAX_MESSAGE_BYTES as usize;

/// An inline message.
#[derive(Debug, Clone, Copy)]
pub struct Message {
    /// Payload; only the first `length` bytes count.
    pub bytes: [u8; MESSAGE_BYTES],
    /// Payload length.
    pub length: usize,
}

impl Message {
    /// Returns a message holding `payload` (at most [`MAX_MESSAGE_BYTES`]).
    pub fn new(payload: &[u8]) -> Self {
        let length = payload.len().min(MESSAGE_BYTES);
        let mut bytes = [0; MESSAGE_BYTES];
        bytes[..length].copy_from_slice(&payload[..length]);
        Self { bytes, length }
    }

    /// Returns the payload.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[..self.length]
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    sender: u64,
    message: Message,
    call: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SenderState {
    Queued,
    Taken,
    AwaitingReply { receiver: u64, endpoint: usize },
    Replied,
    PeerGone,
}

struct Ipc {
    queues: [VecDeque<Pending>; ENDPOINTS],
    arrivals: [Option<EventId>; ENDPOINTS],
    changes: Option<EventId>,
    senders: Vec<(u64, SenderState, Message)>,
}

static IPC: Mutex<Ipc> = Mutex::new(Ipc {
    queues: [const { VecDeque::new() }; ENDPOINTS],
    arrivals: [None; ENDPOINTS],
    changes: None,
    senders: Vec::new(),
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

    fn state_of(&mut self, sender: u64) -> Option<&mut (u64, SenderState, Message)> {
        self.senders.iter_mut().find(|entry| entry.0 == sender)
    }
}

fn with_ipc<R>(action: impl FnOnce(&mut Ipc) -> R) -> R {
    without_interrupts(|| action(&mut IPC.lock()))
}

fn check_endpoint(endpoint: u64) -> Result<usize, Error> {
    usize::try_from(endpoint)
        .ok()
        .filter(|endpoint| *endpoint < ENDPOINTS)
        .ok_or(Error::InvalidArgument)
}

/// Sends `message` from agent `sender` to `endpoint`; with `call`, waits for
/// and returns the reply. Blocks the calling agent.
pub fn send(sender: u64, endpoint: u64, message: Message, call: bool) -> Result<Message, Error> {
    let endpoint = check_endpoint(endpoint)?;
    with_ipc(|ipc| {
        if ipc.queues[endpoint].len() >= MAX_QUEUED {
            return Err(Error::Exhausted);
        }
        let arrival = ipc.arrival_event(endpoint)?;
        ipc.change_event()?;
        ipc.queues[endpoint].push_back(Pending {
            sender,
            message,
            call,
        });
        ipc.senders.retain(|entry| entry.0 != sender);
        ipc.senders
            .push((sender, SenderState::Queued, Message::new(&[])));
        task::signal(arrival);
        Ok(())
    })?;
    loop {
        let outcome = with_ipc(|ipc| {
            let event = ipc.change_event()?;
            let generation = task::event_generation(event);
            let Some(entry) = ipc.state_of(sender) else {
                return Err(Error::PeerGone);
            };
            let (state, reply) = (entry.1, entry.2);
            match state {
                SenderState::Queued | SenderState::AwaitingReply { .. } => {
                    Ok(Err((event, generation)))
                }
                SenderState::Taken | SenderState::Replied | SenderState::PeerGone => {
                    ipc.senders.retain(|entry| entry.0 != sender);
                    Ok(Ok((state, reply)))
                }
            }
        })?;
        match outcome {
            Ok((SenderState::PeerGone, _)) => return Err(Error::PeerGone),
            Ok((_, reply)) => return Ok(reply),
            Err((event, generation)) => task::wait(event, generation),
        }
    }
}

/// Takes the oldest message on `endpoint` for agent `receiver`, blocking
/// until there is one. Returns the sender and the message.
pub fn receive(receiver: u64, endpoint: u64) -> Result<(u64, Message), Error> {
    let endpoint = check_endpoint(endpoint)?;
    loop {
        let outcome = with_ipc(|ipc| {
            let arrival = ipc.arrival_event(endpoint)?;
            let change = ipc.change_event()?;
            let generation = task::event_generation(arrival);
            let Some(pending) = ipc.queues[endpoint].pop_front() else {
                return Ok::<_, Error>(Err((arrival, generation)));
            };
            if let Some(entry) = ipc.state_of(pending.sender) {
                entry.1 = if pending.call {
                    SenderState::AwaitingReply { receiver, endpoint }
                } else {
                    SenderState::Taken
                };
            }
            task::signal(change);
            Ok(Ok((pending.sender, pending.message)))
        })?;
        match outcome {
            Ok(message) => return Ok(message),
            Err((event, generation)) => task::wait(event, generation),
        }
    }
}

/// Returns the endpoint through which `caller` waits for a reply from
/// `receiver`, if it does.
pub fn awaited_endpoint(receiver: u64, caller: u64) -> Option<usize> {
    with_ipc(|ipc| match ipc.state_of(caller).map(|entry| entry.1) {
        Some(SenderState::AwaitingReply {
            receiver: waited,
            endpoint,
        }) if waited == receiver => Some(endpoint),
        _ => None,
    })
}

/// Answers `caller`, which waits in `call` for a reply from `receiver`.
pub fn reply(receiver: u64, caller: u64, message: Message) -> Result<(), Error> {
    with_ipc(|ipc| {
        let change = ipc.change_event()?;
        let entry = ipc.state_of(caller).ok_or(Error::NotFound)?;
        match entry.1 {
            SenderState::AwaitingReply {
                receiver: waited, ..
            } if waited == receiver => {
                entry.1 = SenderState::Replied;
                entry.2 = message;
                task::signal(change);
                Ok(())
            }
            _ => Err(Error::NotFound),
        }
    })
}

/// Forgets agent `agent`: callers waiting for its reply get `PeerGone`, and
/// messages it queued are dropped.
pub fn on_agent_exit(agent: u64) {
    with_ipc(|ipc| {
        for queue in &mut ipc.queues {
            queue.retain(|pending| pending.sender != agent);
        }
        ipc.senders.retain(|entry| entry.0 != agent);
        let mut changed = false;
        for entry in &mut ipc.senders {
            if matches!(entry.1, SenderState::AwaitingReply { receiver, .. } if receiver == agent) {
                entry.1 = SenderState::PeerGone;
                changed = true;
            }
        }
        if changed && let Some(event) = ipc.changes {
            task::signal(event);
        }
    });
}
