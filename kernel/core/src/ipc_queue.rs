//! The state of synchronous IPC: per-endpoint FIFOs of senders and what each sender waits for.
//!
//! [`IpcQueues`] is the bookkeeping behind the kernel's `send`, `call`,
//! `receive` and `reply`, over agent ids and inline [`Message`]s; blocking and
//! waking (task events) stay in the kernel, which calls these methods under
//! its IPC lock. The life of a message:
//! 1. [`IpcQueues::enqueue`] appends it to its endpoint's queue (at most
//!    [`MAX_QUEUED`] wait on one endpoint) and marks its sender *queued*.
//! 2. [`IpcQueues::dequeue`] hands the oldest message of an endpoint to a
//!    receiver; the sender is then *taken* (a plain `send`) or *awaiting a
//!    reply* from that receiver (a `call`).
//! 3. [`IpcQueues::reply`] answers an awaiting caller, which is then *replied*.
//! 4. The blocked sender polls [`IpcQueues::sender_outcome`] until it is no
//!    longer waiting; the outcome is reported once and then forgotten.
//!
//! When an agent exits, [`IpcQueues::remove_agent`] drops every message it
//! queued and its own sender state, and every caller awaiting its reply gets
//! [`SendOutcome::PeerGone`]. A sender whose message is still queued keeps
//! waiting: no receiver had taken it yet.

use alloc::{collections::VecDeque, vec::Vec};

/// Longest inline message, in bytes (the ABI's `MAX_MESSAGE_BYTES`).
pub const MESSAGE_BYTES: usize = 64;
/// Messages that may wait on one endpoint.
pub const MAX_QUEUED: usize = 16;

/// An inline message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// Payload; only the first `length` bytes count.
    pub bytes: [u8; MESSAGE_BYTES],
    /// Payload length.
    pub length: usize,
}

impl Message {
    /// The message without payload: what a plain `send` gets back.
    pub const EMPTY: Self = Self {
        bytes: [0; MESSAGE_BYTES],
        length: 0,
    };

    /// Returns a message holding `payload`, cut to [`MESSAGE_BYTES`].
    pub fn new(payload: &[u8]) -> Self {
        let length = payload.len().min(MESSAGE_BYTES);
        let mut bytes = [0; MESSAGE_BYTES];
        bytes[..length].copy_from_slice(&payload[..length]);
        Self { bytes, length }
    }

    /// Returns the payload.
    pub fn payload(&self) -> &[u8] {
        &self.bytes[..self.length.min(MESSAGE_BYTES)]
    }
}

/// Why an IPC operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpcError {
    /// The endpoint number is out of range.
    InvalidEndpoint,
    /// [`MAX_QUEUED`] messages already wait on the endpoint.
    QueueFull,
    /// The caller does not wait for a reply from this receiver.
    NotAwaited,
}

/// What a blocked sender learns when it looks at its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Not yet taken, or taken by a `call` whose reply has not come.
    Waiting,
    /// Done: the reply of a `call`, or [`Message::EMPTY`] for a plain `send`.
    Delivered(Message),
    /// The receiver exited before replying, or the sender's state was lost
    /// (it was removed as an exited agent).
    PeerGone,
}

/// A message waiting on an endpoint.
#[derive(Debug, Clone, Copy)]
struct Pending {
    sender: u64,
    message: Message,
    call: bool,
}

/// Where a sender's message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SenderState {
    Queued,
    Taken,
    AwaitingReply { receiver: u64, endpoint: usize },
    Replied(Message),
    PeerGone,
}

/// One sender's state.
#[derive(Debug, Clone, Copy)]
struct Sender {
    agent: u64,
    state: SenderState,
}

/// The queues of `ENDPOINTS` endpoints and the state of every blocked sender.
#[derive(Debug)]
pub struct IpcQueues<const ENDPOINTS: usize> {
    queues: [VecDeque<Pending>; ENDPOINTS],
    senders: Vec<Sender>,
}

impl<const ENDPOINTS: usize> Default for IpcQueues<ENDPOINTS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const ENDPOINTS: usize> IpcQueues<ENDPOINTS> {
    /// Returns empty queues (usable in a `static`).
    pub const fn new() -> Self {
        Self {
            queues: [const { VecDeque::new() }; ENDPOINTS],
            senders: Vec::new(),
        }
    }

    /// Returns endpoint `number` as a queue index, or
    /// [`IpcError::InvalidEndpoint`] when it is out of range.
    pub fn endpoint_index(number: u64) -> Result<usize, IpcError> {
        usize::try_from(number)
            .ok()
            .filter(|endpoint| *endpoint < ENDPOINTS)
            .ok_or(IpcError::InvalidEndpoint)
    }

    /// Returns how many messages wait on `endpoint` (0 for an invalid one).
    pub fn queued(&self, endpoint: usize) -> usize {
        self.queues.get(endpoint).map_or(0, VecDeque::len)
    }

    /// Appends `message` from `sender` to `endpoint`'s queue (a `call` when
    /// `call`) and marks the sender queued, forgetting any earlier state of it.
    pub fn enqueue(
        &mut self,
        endpoint: usize,
        sender: u64,
        message: Message,
        call: bool,
    ) -> Result<(), IpcError> {
        let queue = self
            .queues
            .get_mut(endpoint)
            .ok_or(IpcError::InvalidEndpoint)?;
        if queue.len() >= MAX_QUEUED {
            return Err(IpcError::QueueFull);
        }
        queue.push_back(Pending {
            sender,
            message,
            call,
        });
        self.senders.retain(|entry| entry.agent != sender);
        self.senders.push(Sender {
            agent: sender,
            state: SenderState::Queued,
        });
        Ok(())
    }

    /// Takes the oldest message on `endpoint` for `receiver`; returns its
    /// sender and the message, or `None` when none waits.
    pub fn dequeue(&mut self, endpoint: usize, receiver: u64) -> Option<(u64, Message)> {
        let pending = self.queues.get_mut(endpoint)?.pop_front()?;
        if let Some(entry) = self.sender_mut(pending.sender) {
            entry.state = if pending.call {
                SenderState::AwaitingReply { receiver, endpoint }
            } else {
                SenderState::Taken
            };
        }
        Some((pending.sender, pending.message))
    }

    /// Returns where `sender`'s message stands; once it is no longer
    /// [`SendOutcome::Waiting`] the sender's state is forgotten, so the
    /// outcome is reported once (a later look says [`SendOutcome::PeerGone`]).
    pub fn sender_outcome(&mut self, sender: u64) -> SendOutcome {
        let Some(index) = self.senders.iter().position(|entry| entry.agent == sender) else {
            return SendOutcome::PeerGone;
        };
        let outcome = match self.senders[index].state {
            SenderState::Queued | SenderState::AwaitingReply { .. } => return SendOutcome::Waiting,
            SenderState::Taken => SendOutcome::Delivered(Message::EMPTY),
            SenderState::Replied(reply) => SendOutcome::Delivered(reply),
            SenderState::PeerGone => SendOutcome::PeerGone,
        };
        self.senders.retain(|entry| entry.agent != sender);
        outcome
    }

    /// Returns the endpoint through which `caller` waits for a reply from
    /// `receiver`, if it does.
    pub fn awaited_endpoint(&self, receiver: u64, caller: u64) -> Option<usize> {
        match self.sender(caller)?.state {
            SenderState::AwaitingReply {
                receiver: awaited,
                endpoint,
            } if awaited == receiver => Some(endpoint),
            _ => None,
        }
    }

    /// Answers `caller`, which waits for a reply from `receiver`, with `message`.
    pub fn reply(&mut self, receiver: u64, caller: u64, message: Message) -> Result<(), IpcError> {
        let entry = self.sender_mut(caller).ok_or(IpcError::NotAwaited)?;
        match entry.state {
            SenderState::AwaitingReply {
                receiver: awaited, ..
            } if awaited == receiver => {
                entry.state = SenderState::Replied(message);
                Ok(())
            }
            _ => Err(IpcError::NotAwaited),
        }
    }

    /// Forgets exited agent `agent`: drops the messages it queued on every
    /// endpoint and its own sender state, and turns every caller awaiting its
    /// reply to [`SendOutcome::PeerGone`]. Returns whether any caller was
    /// turned (the kernel then wakes the senders).
    pub fn remove_agent(&mut self, agent: u64) -> bool {
        for queue in &mut self.queues {
            queue.retain(|pending| pending.sender != agent);
        }
        self.senders.retain(|entry| entry.agent != agent);
        let mut changed = false;
        for entry in &mut self.senders {
            if matches!(entry.state, SenderState::AwaitingReply { receiver, .. } if receiver == agent)
            {
                entry.state = SenderState::PeerGone;
                changed = true;
            }
        }
        changed
    }

    /// Returns the state of `agent` as a sender.
    fn sender(&self, agent: u64) -> Option<&Sender> {
        self.senders.iter().find(|entry| entry.agent == agent)
    }

    /// Returns the state of `agent` as a sender, to change it.
    fn sender_mut(&mut self, agent: u64) -> Option<&mut Sender> {
        self.senders.iter_mut().find(|entry| entry.agent == agent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Endpoints in the tests (as in the ABI).
    const ENDPOINTS: usize = 16;
    /// The queues under test.
    type Queues = IpcQueues<ENDPOINTS>;
    /// A receiving agent.
    const SERVER: u64 = 1;
    /// Another receiving agent.
    const OTHER_SERVER: u64 = 2;

    #[test]
    fn endpoint_numbers_are_checked() {
        assert_eq!(Queues::endpoint_index(0), Ok(0));
        assert_eq!(Queues::endpoint_index(15), Ok(15));
        for number in [16, 17, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(
                Queues::endpoint_index(number),
                Err(IpcError::InvalidEndpoint)
            );
        }
        let mut queues = Queues::new();
        assert_eq!(
            queues.enqueue(ENDPOINTS, 10, Message::EMPTY, false),
            Err(IpcError::InvalidEndpoint)
        );
        assert_eq!(queues.dequeue(ENDPOINTS, SERVER), None);
        assert_eq!(queues.dequeue(usize::MAX, SERVER), None);
        assert_eq!(queues.queued(usize::MAX), 0);
    }

    #[test]
    fn messages_are_cut_to_the_inline_size() {
        let long = [7_u8; MESSAGE_BYTES + 10];
        let message = Message::new(&long);
        assert_eq!(message.length, MESSAGE_BYTES);
        assert_eq!(message.payload(), &long[..MESSAGE_BYTES]);
        assert_eq!(Message::new(b"hi").payload(), b"hi");
        assert_eq!(Message::new(&[]), Message::EMPTY);
        // A forged length cannot read past the payload.
        let forged = Message {
            bytes: [1; MESSAGE_BYTES],
            length: usize::MAX,
        };
        assert_eq!(forged.payload().len(), MESSAGE_BYTES);
    }

    #[test]
    fn each_endpoint_delivers_in_order() {
        let mut queues = Queues::new();
        for sender in 10..15 {
            queues
                .enqueue(3, sender, Message::new(&sender.to_le_bytes()), false)
                .unwrap();
        }
        queues.enqueue(4, 20, Message::new(b"four"), false).unwrap();
        assert_eq!(queues.queued(3), 5);
        assert_eq!(queues.dequeue(4, SERVER), Some((20, Message::new(b"four"))));
        for sender in 10..15 {
            let (from, message) = queues.dequeue(3, SERVER).unwrap();
            assert_eq!(from, sender);
            assert_eq!(message.payload(), sender.to_le_bytes());
        }
        assert_eq!(queues.dequeue(3, SERVER), None);
        assert_eq!(queues.dequeue(4, SERVER), None);
    }

    #[test]
    fn a_full_endpoint_refuses_until_one_is_taken() {
        let mut queues = Queues::new();
        for sender in 0..MAX_QUEUED as u64 {
            queues
                .enqueue(0, 100 + sender, Message::EMPTY, false)
                .unwrap();
        }
        assert_eq!(
            queues.enqueue(0, 999, Message::EMPTY, false),
            Err(IpcError::QueueFull)
        );
        assert_eq!(
            queues.sender_outcome(999),
            SendOutcome::PeerGone,
            "a refused sender has no state"
        );
        // Other endpoints are not affected.
        queues.enqueue(1, 999, Message::EMPTY, false).unwrap();
        queues.dequeue(0, SERVER).unwrap();
        queues.enqueue(0, 998, Message::EMPTY, false).unwrap();
        assert_eq!(queues.queued(0), MAX_QUEUED);
    }

    #[test]
    fn a_plain_send_is_done_when_taken() {
        let mut queues = Queues::new();
        queues.enqueue(2, 10, Message::new(b"ping"), false).unwrap();
        assert_eq!(queues.sender_outcome(10), SendOutcome::Waiting);
        assert_eq!(queues.sender_outcome(10), SendOutcome::Waiting);
        queues.dequeue(2, SERVER).unwrap();
        assert_eq!(queues.awaited_endpoint(SERVER, 10), None);
        assert_eq!(
            queues.sender_outcome(10),
            SendOutcome::Delivered(Message::EMPTY)
        );
        // Reported once, then forgotten.
        assert_eq!(queues.sender_outcome(10), SendOutcome::PeerGone);
        assert_eq!(
            queues.reply(SERVER, 10, Message::EMPTY),
            Err(IpcError::NotAwaited)
        );
    }

    #[test]
    fn a_call_waits_for_the_reply_of_its_receiver() {
        let mut queues = Queues::new();
        queues
            .enqueue(5, 10, Message::new(b"question"), true)
            .unwrap();
        assert_eq!(
            queues.reply(SERVER, 10, Message::EMPTY),
            Err(IpcError::NotAwaited),
            "no reply before the call is taken"
        );
        assert_eq!(queues.awaited_endpoint(SERVER, 10), None);
        queues.dequeue(5, SERVER).unwrap();
        assert_eq!(queues.awaited_endpoint(SERVER, 10), Some(5));
        assert_eq!(queues.awaited_endpoint(OTHER_SERVER, 10), None);
        assert_eq!(queues.sender_outcome(10), SendOutcome::Waiting);
        assert_eq!(
            queues.reply(OTHER_SERVER, 10, Message::new(b"forged")),
            Err(IpcError::NotAwaited)
        );
        queues.reply(SERVER, 10, Message::new(b"answer")).unwrap();
        assert_eq!(
            queues.reply(SERVER, 10, Message::new(b"twice")),
            Err(IpcError::NotAwaited),
            "a caller is answered once"
        );
        assert_eq!(queues.awaited_endpoint(SERVER, 10), None);
        assert_eq!(
            queues.sender_outcome(10),
            SendOutcome::Delivered(Message::new(b"answer"))
        );
        assert_eq!(queues.sender_outcome(10), SendOutcome::PeerGone);
    }

    #[test]
    fn an_exited_agent_leaves_every_queue() {
        let mut queues = Queues::new();
        queues.enqueue(0, 10, Message::new(b"a"), false).unwrap();
        queues.enqueue(0, 11, Message::new(b"b"), false).unwrap();
        queues.enqueue(7, 11, Message::new(b"c"), false).unwrap();
        queues.enqueue(0, 12, Message::new(b"d"), false).unwrap();
        assert!(!queues.remove_agent(11), "no caller awaited agent 11");
        assert_eq!(queues.queued(0), 2);
        assert_eq!(queues.queued(7), 0);
        assert_eq!(queues.dequeue(0, SERVER).unwrap().0, 10);
        assert_eq!(queues.dequeue(0, SERVER).unwrap().0, 12);
        assert_eq!(queues.sender_outcome(11), SendOutcome::PeerGone);
    }

    #[test]
    fn callers_of_an_exited_receiver_get_peer_gone() {
        let mut queues = Queues::new();
        queues.enqueue(0, 10, Message::EMPTY, true).unwrap();
        queues.enqueue(0, 11, Message::EMPTY, true).unwrap();
        queues.enqueue(1, 12, Message::EMPTY, true).unwrap();
        queues.enqueue(0, 13, Message::EMPTY, true).unwrap();
        queues.dequeue(0, SERVER).unwrap();
        queues.dequeue(0, SERVER).unwrap();
        queues.dequeue(1, OTHER_SERVER).unwrap();
        assert!(queues.remove_agent(SERVER));
        assert_eq!(queues.sender_outcome(10), SendOutcome::PeerGone);
        assert_eq!(queues.sender_outcome(11), SendOutcome::PeerGone);
        // Awaiting another receiver, or not yet taken: still waiting.
        assert_eq!(queues.sender_outcome(12), SendOutcome::Waiting);
        assert_eq!(queues.sender_outcome(13), SendOutcome::Waiting);
        assert_eq!(queues.queued(0), 1);
        assert_eq!(
            queues.reply(SERVER, 10, Message::EMPTY),
            Err(IpcError::NotAwaited)
        );
        assert!(!queues.remove_agent(SERVER), "nothing left to turn");
        queues.reply(OTHER_SERVER, 12, Message::new(b"ok")).unwrap();
        assert_eq!(
            queues.sender_outcome(12),
            SendOutcome::Delivered(Message::new(b"ok"))
        );
    }

    #[test]
    fn an_exited_caller_cannot_be_answered() {
        let mut queues = Queues::new();
        queues.enqueue(0, 10, Message::EMPTY, true).unwrap();
        queues.dequeue(0, SERVER).unwrap();
        assert!(!queues.remove_agent(10));
        assert_eq!(queues.awaited_endpoint(SERVER, 10), None);
        assert_eq!(
            queues.reply(SERVER, 10, Message::EMPTY),
            Err(IpcError::NotAwaited)
        );
    }

    #[test]
    fn an_exit_frees_room_on_a_full_endpoint() {
        let mut queues = Queues::new();
        for index in 0..MAX_QUEUED as u64 {
            queues
                .enqueue(0, 100 + index % 2, Message::EMPTY, false)
                .unwrap();
        }
        queues.remove_agent(100);
        assert_eq!(queues.queued(0), MAX_QUEUED / 2);
        queues.enqueue(0, 200, Message::EMPTY, false).unwrap();
    }

    #[test]
    fn a_new_send_replaces_the_senders_old_state() {
        let mut queues = Queues::new();
        queues.enqueue(0, 10, Message::EMPTY, true).unwrap();
        queues.dequeue(0, SERVER).unwrap();
        // The same agent sends again (the kernel would not let it, but the
        // state must stay one entry per agent).
        queues.enqueue(1, 10, Message::EMPTY, false).unwrap();
        assert_eq!(queues.awaited_endpoint(SERVER, 10), None);
        assert_eq!(queues.sender_outcome(10), SendOutcome::Waiting);
        queues.dequeue(1, OTHER_SERVER).unwrap();
        assert_eq!(
            queues.sender_outcome(10),
            SendOutcome::Delivered(Message::EMPTY)
        );
        assert_eq!(queues.sender_outcome(10), SendOutcome::PeerGone);
    }

    #[test]
    fn a_message_whose_sender_state_is_gone_is_still_delivered() {
        let mut queues = Queues::new();
        queues.enqueue(0, 10, Message::new(b"x"), false).unwrap();
        // The sender's outcome was consumed (state forgotten) while its
        // message still waits: dequeuing must not fail or invent a state.
        queues.senders.clear();
        assert_eq!(queues.dequeue(0, SERVER), Some((10, Message::new(b"x"))));
        assert_eq!(queues.sender_outcome(10), SendOutcome::PeerGone);
    }
}
