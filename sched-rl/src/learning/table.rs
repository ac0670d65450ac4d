//! A fixed-size Q-table with visit counts and the temporal-difference update.
//!
//! `QTable<STATES, ACTIONS>` is a plain array of Q16.16 values; nothing is
//! allocated, and the update is
//! `Q(s, a) += alpha × (reward + gamma × max_a' Q(s', a') − Q(s, a))`.

use crate::fixed::Fixed;

/// Q-values for `STATES` states and `ACTIONS` actions, all starting at zero.
#[derive(Clone, Debug)]
pub struct QTable<const STATES: usize, const ACTIONS: usize> {
    values: [[Fixed; ACTIONS]; STATES],
    visits: [[u32; ACTIONS]; STATES],
}

impl<const STATES: usize, const ACTIONS: usize> Default for QTable<STATES, ACTIONS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const STATES: usize, const ACTIONS: usize> QTable<STATES, ACTIONS> {
    /// Returns a table of zeros.
    pub const fn new() -> Self {
        Self {
            values: [[Fixed::ZERO; ACTIONS]; STATES],
            visits: [[0; ACTIONS]; STATES],
        }
    }

    /// Returns Q(`state`, `action`).
    pub fn value(&self, state: usize, action: usize) -> Fixed {
        self.values[state][action]
    }

    /// Returns how many updates Q(`state`, `action`) has received.
    pub fn visits(&self, state: usize, action: usize) -> u32 {
        self.visits[state][action]
    }

    /// Returns the greedy action in `state` and its value; ties go to the
    /// lowest action index.
    pub fn best(&self, state: usize) -> (usize, Fixed) {
        let mut best_action = 0;
        let mut best_value = self.values[state][0];
        for (action, &value) in self.values[state].iter().enumerate().skip(1) {
            if value > best_value {
                best_action = action;
                best_value = value;
            }
        }
        (best_action, best_value)
    }

    /// Returns max over actions of Q(`state`, ·).
    pub fn max_value(&self, state: usize) -> Fixed {
        self.best(state).1
    }

    /// Applies one TD update towards `reward + gamma × next_value` with step
    /// `alpha`, counts the visit, and returns the TD error.
    ///
    /// `next_value` is `max_a' Q(s', a')` (zero for a terminal transition);
    /// it is passed in so that callers whose next state is a set of options
    /// (the scheduler) can supply it.
    pub fn update(
        &mut self,
        state: usize,
        action: usize,
        reward: Fixed,
        next_value: Fixed,
        gamma: Fixed,
        alpha: Fixed,
    ) -> Fixed {
        let current = self.values[state][action];
        let target = reward + gamma.mul(next_value);
        let error = target - current;
        self.values[state][action] = current + alpha.mul(error);
        self.visits[state][action] = self.visits[state][action].saturating_add(1);
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_moves_towards_target() {
        let mut table: QTable<2, 2> = QTable::new();
        let half = Fixed::from_ratio(1, 2);
        let error = table.update(0, 1, Fixed::ONE, Fixed::ZERO, half, half);
        assert_eq!(error, Fixed::ONE);
        assert_eq!(table.value(0, 1), half);
        assert_eq!(table.best(0), (1, half));
        assert_eq!(table.visits(0, 1), 1);
        assert_eq!(table.best(1), (0, Fixed::ZERO));
    }
}
