//! A fixed-capacity set of runnable agents, each with the time it became runnable.
//!
//! Insert, remove and membership are O(1); iteration visits only the
//! runnable agents, so a policy that scans the set costs O(runnable agents).
//! Order of iteration is unspecified (removal swaps the last member in).

use crate::agent::{AgentId, MAX_AGENTS, Microseconds};

/// Marks a slot that is not in the set.
const NOT_MEMBER: u8 = u8::MAX;

/// The runnable agents and, for each, when it became runnable.
#[derive(Clone, Debug)]
pub struct RunnableSet {
    members: [AgentId; MAX_AGENTS],
    length: usize,
    position: [u8; MAX_AGENTS],
    since: [Microseconds; MAX_AGENTS],
}

impl Default for RunnableSet {
    fn default() -> Self {
        Self::new()
    }
}

impl RunnableSet {
    /// Returns an empty set.
    pub const fn new() -> Self {
        Self {
            members: [AgentId::new(0).unwrap(); MAX_AGENTS],
            length: 0,
            position: [NOT_MEMBER; MAX_AGENTS],
            since: [0; MAX_AGENTS],
        }
    }

    /// Adds `agent`, runnable since `now`; returns false if it was already in.
    pub fn insert(&mut self, agent: AgentId, now: Microseconds) -> bool {
        if self.contains(agent) {
            return false;
        }
        self.members[self.length] = agent;
        // `length < MAX_AGENTS <= 64` so it fits a u8.
        self.position[agent.index()] = self.length as u8;
        self.since[agent.index()] = now;
        self.length += 1;
        true
    }

    /// Removes `agent`; returns false if it was not in the set.
    pub fn remove(&mut self, agent: AgentId) -> bool {
        let slot = self.position[agent.index()];
        if slot == NOT_MEMBER {
            return false;
        }
        let last = self.members[self.length - 1];
        self.members[usize::from(slot)] = last;
        self.position[last.index()] = slot;
        self.position[agent.index()] = NOT_MEMBER;
        self.length -= 1;
        true
    }

    /// Returns true when `agent` is runnable.
    pub fn contains(&self, agent: AgentId) -> bool {
        self.position[agent.index()] != NOT_MEMBER
    }

    /// Returns the number of runnable agents.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Returns true when no agent is runnable.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Returns when `agent` became runnable (meaningless if not a member).
    pub fn since(&self, agent: AgentId) -> Microseconds {
        self.since[agent.index()]
    }

    /// Returns the `index`-th member in iteration order, if any.
    pub fn get(&self, index: usize) -> Option<AgentId> {
        self.members[..self.length].get(index).copied()
    }

    /// Returns the runnable agents.
    pub fn agents(&self) -> &[AgentId] {
        &self.members[..self.length]
    }

    /// Returns the agent that has been runnable longest, ties to the lowest slot.
    pub fn longest_waiting(&self) -> Option<AgentId> {
        self.agents()
            .iter()
            .copied()
            .min_by_key(|agent| (self.since[agent.index()], agent.index()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(slot: usize) -> AgentId {
        AgentId::new(slot).unwrap()
    }

    #[test]
    fn insert_remove_contains() {
        let mut set = RunnableSet::new();
        assert!(set.insert(agent(3), 10));
        assert!(!set.insert(agent(3), 20));
        assert!(set.insert(agent(5), 5));
        assert_eq!(set.since(agent(3)), 10);
        assert_eq!(set.longest_waiting(), Some(agent(5)));
        assert!(set.remove(agent(5)));
        assert!(!set.remove(agent(5)));
        assert_eq!(set.agents(), &[agent(3)]);
        assert!(set.remove(agent(3)));
        assert!(set.is_empty());
    }
}
