//! A fixed-capacity double-ended queue of agents, each present at most once.
//!
//! Pushes and pops are O(1); removing an agent from the middle is O(queue
//! length). Membership is a `u64` bitmap, so a duplicate push is refused in
//! O(1), which keeps the queue bounded by `MAX_AGENTS` even if the kernel
//! reports the same wake-up twice.

use crate::agent::{AgentId, MAX_AGENTS};

const _: () = assert!(
    MAX_AGENTS <= u64::BITS as usize,
    "membership bitmap is one u64"
);

/// A ring buffer of distinct agents.
#[derive(Clone, Debug)]
pub struct AgentQueue {
    slots: [AgentId; MAX_AGENTS],
    head: usize,
    length: usize,
    members: u64,
}

impl Default for AgentQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentQueue {
    /// Returns an empty queue.
    pub const fn new() -> Self {
        Self {
            slots: [AgentId::new(0).unwrap(); MAX_AGENTS],
            head: 0,
            length: 0,
            members: 0,
        }
    }

    /// Returns true when `agent` is queued.
    pub const fn contains(&self, agent: AgentId) -> bool {
        self.members & (1 << agent.index()) != 0
    }

    /// Returns the number of queued agents.
    pub const fn len(&self) -> usize {
        self.length
    }

    /// Returns true when nothing is queued.
    pub const fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Appends `agent`; returns false if it was already queued.
    pub fn push_back(&mut self, agent: AgentId) -> bool {
        if self.contains(agent) {
            return false;
        }
        self.slots[(self.head + self.length) % MAX_AGENTS] = agent;
        self.length += 1;
        self.members |= 1 << agent.index();
        true
    }

    /// Prepends `agent`; returns false if it was already queued.
    pub fn push_front(&mut self, agent: AgentId) -> bool {
        if self.contains(agent) {
            return false;
        }
        self.head = (self.head + MAX_AGENTS - 1) % MAX_AGENTS;
        self.slots[self.head] = agent;
        self.length += 1;
        self.members |= 1 << agent.index();
        true
    }

    /// Removes and returns the first agent.
    pub fn pop_front(&mut self) -> Option<AgentId> {
        if self.length == 0 {
            return None;
        }
        let agent = self.slots[self.head];
        self.head = (self.head + 1) % MAX_AGENTS;
        self.length -= 1;
        self.members &= !(1 << agent.index());
        Some(agent)
    }

    /// Removes `agent` wherever it is; returns false if it was not queued.
    pub fn remove(&mut self, agent: AgentId) -> bool {
        if !self.contains(agent) {
            return false;
        }
        let mut offset = 0;
        while self.slots[(self.head + offset) % MAX_AGENTS] != agent {
            offset += 1;
        }
        for index in offset..self.length - 1 {
            self.slots[(self.head + index) % MAX_AGENTS] =
                self.slots[(self.head + index + 1) % MAX_AGENTS];
        }
        self.length -= 1;
        self.members &= !(1 << agent.index());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(slot: usize) -> AgentId {
        AgentId::new(slot).unwrap()
    }

    #[test]
    fn fifo_order_and_removal() {
        let mut queue = AgentQueue::new();
        assert!(queue.push_back(agent(1)));
        assert!(queue.push_back(agent(2)));
        assert!(!queue.push_back(agent(1)));
        assert!(queue.push_front(agent(0)));
        assert!(queue.push_back(agent(3)));
        assert!(queue.remove(agent(2)));
        assert_eq!(queue.pop_front(), Some(agent(0)));
        assert_eq!(queue.pop_front(), Some(agent(1)));
        assert_eq!(queue.pop_front(), Some(agent(3)));
        assert_eq!(queue.pop_front(), None);
    }

    #[test]
    fn holds_every_agent() {
        let mut queue = AgentQueue::new();
        for slot in 0..MAX_AGENTS {
            assert!(queue.push_front(agent(slot)));
        }
        assert_eq!(queue.len(), MAX_AGENTS);
        assert_eq!(queue.pop_front(), Some(agent(MAX_AGENTS - 1)));
    }
}
