//! The state of synchronous IPC: per-endpoint FIFOs of senders and what each sender waits for.
//!
//! [`IpcQueues`] is the bookkeeping behind the kernel's `send`, `call`,
//! `receive` and `reply`, over agent ids and inline [`Message`]s; blocking and
//! waking (task events) stay in the kernel, which calls these methods under
//! its IPC lock. The life of a message:
//! 1. [`IpcQueues::enqueue_for`] appends it to its endpoint's queue and
//!    marks its sender *queued*. At most [`MAX_QUEUED`] wait on one
//!    endpoint, and at most [`MAX_QUEUED_PER_TREE`] of them come from one
//!    agent tree (the sender's top-level user agent and its descendants),
//!    so one tree flooding an endpoint leaves room for everyone else. A
//!    sender blocks until its message is taken, so it has at most one
//!    message queued anywhere.
//! 2. [`IpcQueues::dequeue`] hands the oldest message of an endpoint to a
//!    receiver; the sender is then *taken* (a plain `send`) or *awaiting a
//!    reply* from that receiver (a `call`).
//! 3. [`IpcQueues::reply`] answers an awaiting caller, which is then *replied*.
//! 4. The blocked sender polls [`IpcQueues::sender_outcome`] until it is no
//!    longer waiting; the outcome is reported once and then forgotten. A
//!    sender whose timeout expired first withdraws with
//!    [`IpcQueues::cancel`]: its message leaves the queue, or the reply to
//!    its taken call is refused.
//!
//! When an agent exits, [`IpcQueues::remove_agent`] drops every message it
//! queued and its own sender state, and every caller awaiting its reply gets
//! [`SendOutcome::PeerGone`]. A sender whose message is still queued keeps
//! waiting while nobody owns the endpoint yet.
//!
//! Receive rights: the first agent to receive on an endpoint
//! ([`IpcQueues::claim`]) owns it until it exits; other agents are refused
//! ([`IpcError::NotOwner`]). When the owner exits the endpoint is *dead*:
//! senders queued on it get [`SendOutcome::PeerGone`] at once and later
//! sends [`IpcError::PeerGone`], until a new agent claims it.
//!
//! Deadlocks: a `call` whose endpoint's owner is (transitively) blocked in a
//! `call` back to the caller is refused with [`IpcError::WouldDeadlock`]
//! ([`IpcQueues::would_deadlock`], at most [`MAX_CHAIN`] links).

use alloc::{collections::VecDeque, vec::Vec};

/// Longest inline message, in bytes (the ABI's `MAX_MESSAGE_BYTES`).
pub const MESSAGE_BYTES: usize = 64;
/// Messages that may wait on one endpoint.
pub const MAX_QUEUED: usize = 16;
/// Messages one agent tree may have waiting on one endpoint: a quarter of
/// the queue, so a flooding tree cannot take the room of the others.
pub const MAX_QUEUED_PER_TREE: usize = MAX_QUEUED / 4;
/// Heap bytes the queues hold for one blocked sender at most: its queued
/// message and its state (which holds the reply of a `call`). What the
/// kernel charges the sender's memory budget while its `send` lasts.
pub const BYTES_PER_SENDER: usize = size_of::<Pending>() + size_of::<Sender>();

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
    /// [`MAX_QUEUED_PER_TREE`] messages of the sender's tree already wait
    /// on the endpoint.
    TreeShareFull,
    /// The caller does not wait for a reply from this receiver.
    NotAwaited,
    /// The endpoint's owner exited and no new owner received on it yet.
    PeerGone,
    /// Another live agent owns the endpoint's receive right.
    NotOwner,
    /// The `call` would close a cycle of agents each blocked calling the next.
    WouldDeadlock,
}

/// Longest chain of blocked callers the deadlock check follows (at least the
/// number of agents, so every cycle is found).
pub const MAX_CHAIN: usize = 64;

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
    /// The tree the message counts against ([`MAX_QUEUED_PER_TREE`]).
    tree: u64,
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
    /// The endpoint of the sender's `call`, or `None` for a plain `send`.
    calling: Option<usize>,
}

/// Who may receive on an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    /// Nobody received on it yet: senders queue and wait.
    Free,
    /// Agent `0` owns the receive right.
    Agent(u64),
    /// The owner exited: senders get [`IpcError::PeerGone`] until a new
    /// agent receives on it.
    Dead,
}

/// The queues of `ENDPOINTS` endpoints and the state of every blocked sender.
#[derive(Debug)]
pub struct IpcQueues<const ENDPOINTS: usize> {
    queues: [VecDeque<Pending>; ENDPOINTS],
    senders: Vec<Sender>,
    owners: [Owner; ENDPOINTS],
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
            owners: [Owner::Free; ENDPOINTS],
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
    /// `call`) and marks the sender queued, forgetting any earlier state of
    /// it; the sender is its own tree (see [`IpcQueues::enqueue_for`]).
    pub fn enqueue(
        &mut self,
        endpoint: usize,
        sender: u64,
        message: Message,
        call: bool,
    ) -> Result<(), IpcError> {
        self.enqueue_for(endpoint, sender, sender, message, call)
    }

    /// Appends `message` from `sender`, of agent tree `tree`, to
    /// `endpoint`'s queue (a `call` when `call`) and marks the sender
    /// queued, forgetting any earlier state of it. Refuses with
    /// [`IpcError::QueueFull`] when [`MAX_QUEUED`] messages wait there and
    /// with [`IpcError::TreeShareFull`] when [`MAX_QUEUED_PER_TREE`] of them
    /// are `tree`'s.
    pub fn enqueue_for(
        &mut self,
        endpoint: usize,
        sender: u64,
        tree: u64,
        message: Message,
        call: bool,
    ) -> Result<(), IpcError> {
        if endpoint >= ENDPOINTS {
            return Err(IpcError::InvalidEndpoint);
        }
        if self.owners[endpoint] == Owner::Dead {
            return Err(IpcError::PeerGone);
        }
        if call && self.would_deadlock(endpoint, sender) {
            return Err(IpcError::WouldDeadlock);
        }
        let queue = &mut self.queues[endpoint];
        if queue.len() >= MAX_QUEUED {
            return Err(IpcError::QueueFull);
        }
        if queue.iter().filter(|pending| pending.tree == tree).count() >= MAX_QUEUED_PER_TREE {
            return Err(IpcError::TreeShareFull);
        }
        queue.push_back(Pending {
            sender,
            tree,
            message,
            call,
        });
        self.senders.retain(|entry| entry.agent != sender);
        self.senders.push(Sender {
            agent: sender,
            state: SenderState::Queued,
            calling: call.then_some(endpoint),
        });
        Ok(())
    }

    /// Makes `receiver` the owner of `endpoint` if it is free or dead (the
    /// first agent to receive on it takes the receive right); refuses with
    /// [`IpcError::NotOwner`] while another agent owns it.
    pub fn claim(&mut self, endpoint: usize, receiver: u64) -> Result<(), IpcError> {
        let owner = self
            .owners
            .get_mut(endpoint)
            .ok_or(IpcError::InvalidEndpoint)?;
        match *owner {
            Owner::Agent(agent) if agent != receiver => Err(IpcError::NotOwner),
            _ => {
                *owner = Owner::Agent(receiver);
                Ok(())
            }
        }
    }

    /// Returns the live owner of `endpoint`, if it has one.
    pub fn owner(&self, endpoint: usize) -> Option<u64> {
        match self.owners.get(endpoint)? {
            Owner::Agent(agent) => Some(*agent),
            Owner::Free | Owner::Dead => None,
        }
    }

    /// Returns whether a `call` by `caller` on `endpoint` would close a cycle:
    /// the endpoint's owner is blocked calling an endpoint whose owner is
    /// blocked calling ... back to `caller`. Follows at most [`MAX_CHAIN`]
    /// links.
    pub fn would_deadlock(&self, endpoint: usize, caller: u64) -> bool {
        let mut next = self.owner(endpoint);
        for _ in 0..MAX_CHAIN {
            let Some(agent) = next else {
                return false;
            };
            if agent == caller {
                return true;
            }
            next = self.sender(agent).and_then(|entry| match entry.state {
                SenderState::AwaitingReply { receiver, .. } => Some(receiver),
                SenderState::Queued => entry.calling.and_then(|called| self.owner(called)),
                _ => None,
            });
        }
        false
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

    /// Withdraws `sender`'s message, whose sender gave up waiting (its
    /// timeout expired): a queued message leaves its queue, and the reply to
    /// a taken call will be refused ([`IpcError::NotAwaited`]). Returns
    /// whether it withdrew anything: a sender that is not waiting (its
    /// outcome is ready, or it has no state) is left as it is.
    pub fn cancel(&mut self, sender: u64) -> bool {
        let waiting = self.sender(sender).is_some_and(|entry| {
            matches!(
                entry.state,
                SenderState::Queued | SenderState::AwaitingReply { .. }
            )
        });
        if !waiting {
            return false;
        }
        for queue in &mut self.queues {
            queue.retain(|pending| pending.sender != sender);
            if queue.is_empty() {
                queue.shrink_to_fit();
            }
        }
        self.senders.retain(|entry| entry.agent != sender);
        if self.senders.is_empty() {
            self.senders.shrink_to_fit();
        }
        true
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
        for endpoint in 0..ENDPOINTS {
            if self.owners[endpoint] != Owner::Agent(agent) {
                continue;
            }
            self.owners[endpoint] = Owner::Dead;
            for pending in core::mem::take(&mut self.queues[endpoint]) {
                if let Some(entry) = self.sender_mut(pending.sender) {
                    entry.state = SenderState::PeerGone;
                    changed = true;
                }
            }
        }
        for entry in &mut self.senders {
            if matches!(entry.state, SenderState::AwaitingReply { receiver, .. } if receiver == agent)
            {
                entry.state = SenderState::PeerGone;
                changed = true;
            }
        }
        // Storage an exit left unused goes back to the heap, so the queues
        // never keep the high-water mark of a flood that has ended (steady
        // traffic between live agents keeps its buffers).
        for queue in &mut self.queues {
            if queue.is_empty() {
                queue.shrink_to_fit();
            }
        }
        if self.senders.is_empty() {
            self.senders.shrink_to_fit();
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
    fn one_tree_takes_at_most_its_share_of_an_endpoint() {
        let mut queues = Queues::new();
        let (flooder, other) = (500, 600);
        for sender in 0..MAX_QUEUED_PER_TREE as u64 {
            queues
                .enqueue_for(
                    0,
                    flooder + sender,
                    flooder,
                    Message::EMPTY,
                    sender % 2 == 0,
                )
                .unwrap();
        }
        assert_eq!(
            queues.enqueue_for(0, flooder + 99, flooder, Message::EMPTY, true),
            Err(IpcError::TreeShareFull)
        );
        assert_eq!(queues.sender_outcome(flooder + 99), SendOutcome::PeerGone);
        // Another tree, and the same tree on another endpoint, still queue.
        queues
            .enqueue_for(0, other, other, Message::EMPTY, true)
            .unwrap();
        queues
            .enqueue_for(1, flooder + 99, flooder, Message::EMPTY, false)
            .unwrap();
        // A taken message frees its tree's share.
        assert_eq!(
            queues.dequeue(0, SERVER).map(|(from, _)| from),
            Some(flooder)
        );
        queues
            .enqueue_for(0, flooder + 98, flooder, Message::EMPTY, false)
            .unwrap();
        assert_eq!(queues.queued(0), MAX_QUEUED_PER_TREE + 1);
    }

    #[test]
    fn four_trees_can_fill_an_endpoint_and_no_more() {
        let mut queues = Queues::new();
        let trees = (MAX_QUEUED / MAX_QUEUED_PER_TREE) as u64;
        for tree in 0..trees {
            for index in 0..MAX_QUEUED_PER_TREE as u64 {
                let sender = 1000 * (tree + 1) + index;
                queues
                    .enqueue_for(3, sender, 1000 * (tree + 1), Message::EMPTY, false)
                    .unwrap();
            }
        }
        assert_eq!(
            queues.enqueue_for(3, 9_999, 9_999, Message::EMPTY, false),
            Err(IpcError::QueueFull)
        );
    }

    #[test]
    fn a_queued_sender_that_gives_up_leaves_the_queue() {
        let mut queues = Queues::new();
        queues.enqueue(4, 10, Message::new(b"a"), true).unwrap();
        queues.enqueue(4, 11, Message::new(b"b"), false).unwrap();
        assert!(queues.cancel(10));
        assert_eq!(queues.queued(4), 1);
        assert_eq!(queues.sender_outcome(10), SendOutcome::PeerGone);
        assert!(!queues.cancel(10), "nothing left to withdraw");
        assert_eq!(queues.dequeue(4, SERVER), Some((11, Message::new(b"b"))));
        // A delivered outcome is not withdrawn: the sender gets it.
        assert!(!queues.cancel(11));
        assert_eq!(
            queues.sender_outcome(11),
            SendOutcome::Delivered(Message::EMPTY)
        );
    }

    #[test]
    fn a_caller_that_gives_up_after_being_taken_cannot_be_answered() {
        let mut queues = Queues::new();
        queues.claim(2, SERVER).unwrap();
        queues.enqueue(2, 10, Message::new(b"q"), true).unwrap();
        queues.dequeue(2, SERVER).unwrap();
        assert!(queues.cancel(10));
        assert_eq!(queues.awaited_endpoint(SERVER, 10), None);
        assert_eq!(
            queues.reply(SERVER, 10, Message::new(b"late")),
            Err(IpcError::NotAwaited)
        );
        // It no longer counts as blocked in a call: no false cycle.
        queues.claim(3, 10).unwrap();
        assert_eq!(queues.enqueue(3, SERVER, Message::EMPTY, true), Ok(()));
        // A replied caller's reply is kept for it.
        queues.dequeue(3, 10).unwrap();
        queues.reply(10, SERVER, Message::new(b"r")).unwrap();
        assert!(!queues.cancel(SERVER));
        assert_eq!(
            queues.sender_outcome(SERVER),
            SendOutcome::Delivered(Message::new(b"r"))
        );
    }

    #[test]
    fn withdrawing_gives_the_storage_back() {
        let mut queues = Queues::new();
        for sender in 0..MAX_QUEUED as u64 {
            queues
                .enqueue(6, 100 + sender, Message::EMPTY, true)
                .unwrap();
        }
        for sender in 0..MAX_QUEUED as u64 {
            assert!(queues.cancel(100 + sender));
        }
        assert_eq!(queues.queued(6), 0);
        assert_eq!(queues.queues[6].capacity(), 0);
        assert_eq!(queues.senders.capacity(), 0);
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
        // (Two senders with eight messages each, each message its own tree:
        // the kernel never lets a sender queue twice, the bookkeeping copes.)
        for index in 0..MAX_QUEUED as u64 {
            queues
                .enqueue_for(0, 100 + index % 2, index, Message::EMPTY, false)
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

    #[test]
    fn the_first_receiver_owns_the_endpoint() {
        let mut queues = Queues::new();
        assert_eq!(queues.owner(5), None);
        assert_eq!(queues.claim(5, SERVER), Ok(()));
        assert_eq!(queues.claim(5, SERVER), Ok(()));
        assert_eq!(queues.claim(5, OTHER_SERVER), Err(IpcError::NotOwner));
        assert_eq!(queues.owner(5), Some(SERVER));
        assert_eq!(
            queues.claim(ENDPOINTS, SERVER),
            Err(IpcError::InvalidEndpoint)
        );
    }

    #[test]
    fn a_dead_owner_releases_queued_and_refuses_later_senders() {
        let mut queues = Queues::new();
        queues.claim(2, SERVER).unwrap();
        queues.enqueue(2, 10, Message::new(b"a"), true).unwrap();
        queues.enqueue(2, 11, Message::new(b"b"), false).unwrap();
        assert_eq!(queues.dequeue(2, SERVER), Some((10, Message::new(b"a"))));
        assert!(queues.remove_agent(SERVER));
        // The caller it had taken, and the sender still queued, both learn.
        assert_eq!(queues.sender_outcome(10), SendOutcome::PeerGone);
        assert_eq!(queues.sender_outcome(11), SendOutcome::PeerGone);
        assert_eq!(queues.queued(2), 0);
        assert_eq!(
            queues.enqueue(2, 12, Message::EMPTY, true),
            Err(IpcError::PeerGone)
        );
        // A new owner revives it.
        queues.claim(2, OTHER_SERVER).unwrap();
        queues.enqueue(2, 12, Message::EMPTY, false).unwrap();
        assert_eq!(queues.dequeue(2, OTHER_SERVER), Some((12, Message::EMPTY)));
        assert_eq!(
            queues.sender_outcome(12),
            SendOutcome::Delivered(Message::EMPTY)
        );
    }

    #[test]
    fn a_two_agent_call_cycle_is_refused_to_the_closer() {
        let mut queues = Queues::new();
        let (a, b) = (30, 31);
        queues.claim(0, a).unwrap();
        queues.claim(1, b).unwrap();
        // A calls B's endpoint (queued); B calling A's endpoint closes the cycle.
        queues.enqueue(1, a, Message::EMPTY, true).unwrap();
        assert_eq!(
            queues.enqueue(0, b, Message::EMPTY, true),
            Err(IpcError::WouldDeadlock)
        );
        // A plain send is not a wait for a reply: no cycle.
        assert!(!queues.would_deadlock(0, 99));
    }

    #[test]
    fn a_three_agent_cycle_through_a_taken_call_is_found() {
        let mut queues = Queues::new();
        let (a, b, c) = (40, 41, 42);
        for (endpoint, agent) in [(0, a), (1, b), (2, c)] {
            queues.claim(endpoint, agent).unwrap();
        }
        queues.enqueue(1, a, Message::EMPTY, true).unwrap();
        // B takes A's call and, before replying, calls C.
        assert_eq!(queues.dequeue(1, b), Some((a, Message::EMPTY)));
        queues.enqueue(2, b, Message::EMPTY, true).unwrap();
        assert!(queues.would_deadlock(0, c));
        assert_eq!(
            queues.enqueue(0, c, Message::EMPTY, true),
            Err(IpcError::WouldDeadlock)
        );
        // Another agent calling A is fine: the chain does not reach it.
        assert_eq!(queues.enqueue(0, 50, Message::EMPTY, true), Ok(()));
    }

    #[test]
    fn a_chain_longer_than_the_bound_ends() {
        let mut queues = IpcQueues::<128>::new();
        for agent in 0..128_u64 {
            queues.claim(agent as usize, 1000 + agent).unwrap();
        }
        for agent in 0..127_u64 {
            queues
                .enqueue(agent as usize + 1, 1000 + agent, Message::EMPTY, true)
                .unwrap();
        }
        // The chain from endpoint 0 is 127 links long: the check stops.
        assert!(!queues.would_deadlock(0, 1127));
    }
}
