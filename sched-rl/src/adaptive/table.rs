//! One dispatch entry: handlers, their latency models, selection and statistics.
//!
//! See [`crate::adaptive`] for the model and the selection rule. Everything
//! here is a fixed-size array: no allocation, no floating point.

use core::fmt;

use super::model::{Features, LatencyModel, SIZE_BUCKETS};
use crate::fixed::Fixed;
use crate::learning::EpsilonGreedy;
use crate::random::Rng;

/// Most handlers one entry holds.
pub const MAX_HANDLERS: usize = 16;

/// Decisions after which a call chosen but never recorded (its caller died,
/// say) no longer counts as in flight.
pub const IN_FLIGHT_EXPIRY_DECISIONS: u64 = 256;

/// Index of a handler inside its entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HandlerId(pub u8);

/// Which handlers a call may use: bit `i` allows handler `i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct HandlerMask(pub u32);

impl HandlerMask {
    /// Every handler allowed.
    pub const ALL: Self = Self(u32::MAX);
    /// No handler allowed.
    pub const NONE: Self = Self(0);

    /// Returns whether `handler` is allowed.
    pub const fn allows(self, handler: HandlerId) -> bool {
        handler.0 < 32 && self.0 & (1 << handler.0) != 0
    }

    /// Returns this mask with `handler` allowed too.
    pub const fn with(self, handler: HandlerId) -> Self {
        Self(self.0 | (1 << handler.0))
    }
}

/// The entry already holds [`MAX_HANDLERS`] handlers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

/// Tuning of an entry's learner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdaptiveConfig {
    /// Gradient step size `alpha`, in `(0, 2)`; `1/4` averages noise well.
    pub learning_rate: Fixed,
    /// Calls every allowed handler gets before predictions are trusted.
    pub warmup_calls: u32,
    /// Exploration probability at the start.
    pub exploration_start: Fixed,
    /// Exploration never decays below this.
    pub exploration_floor: Fixed,
    /// Decisions after which exploration has halved.
    pub exploration_half_life: u64,
    /// Exploration after warm-up only tries handlers predicted at most this
    /// many times the best prediction (plus [`Self::exploration_slack_us`]):
    /// re-checking a near tie is cheap, re-trying a handler predicted a
    /// hundred times slower costs more than any choice it could improve.
    pub exploration_reach: Fixed,
    /// Absolute slack added to the reach, µs.
    pub exploration_slack_us: u32,
    /// Decisions a handler sits out after its first failure in a row; each
    /// further failure in a row doubles it, up to 2^10 times this.
    pub failure_backoff_calls: u32,
    /// Seed of the exploration's random draws.
    pub seed: u64,
}

impl AdaptiveConfig {
    /// The defaults the kernel uses.
    pub const fn default_config() -> Self {
        Self {
            learning_rate: Fixed::from_raw(Fixed::ONE.raw() / 4),
            warmup_calls: 3,
            exploration_start: Fixed::from_raw(Fixed::ONE.raw() / 4),
            exploration_floor: Fixed::from_raw(Fixed::ONE.raw() / 100),
            exploration_half_life: 64,
            exploration_reach: Fixed::from_raw(Fixed::ONE.raw() * 4),
            exploration_slack_us: 50,
            failure_backoff_calls: 16,
            seed: 0x5EED_ADA7,
        }
    }
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self::default_config()
    }
}

/// A handler's name, model and statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandlerStats {
    /// What the handler does, such as `"device-poll"`.
    pub name: &'static str,
    /// Which instance (a device index), if the kind has several.
    pub instance: Option<u16>,
    /// The learned latency model of each size class ([`Features::bucket`]).
    pub models: [LatencyModel; SIZE_BUCKETS],
    /// Successful calls learned from, per size class.
    pub bucket_calls: [u32; SIZE_BUCKETS],
    /// Calls recorded.
    pub calls: u64,
    /// Sum of observed latencies, µs.
    pub total_latency_us: u64,
    /// Failed calls recorded (their latency is not learned from).
    pub failures: u64,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// The handler is not chosen before the entry's decision count reaches
    /// this (backing off a route that timed out or failed), unless it is the
    /// only one allowed.
    pub backoff_until: u64,
    /// Calls chosen for this handler and not yet recorded, per size class:
    /// while a class's first sample is in flight, other callers wait for it
    /// rather than pay for the same lesson at once (three agents each trying
    /// a 100 ms route the first of them is about to rule out).
    pub in_flight: [u16; SIZE_BUCKETS],
    /// The entry's decision count when the newest of them was chosen (in
    /// flight counts only for [`IN_FLIGHT_EXPIRY_DECISIONS`] after it).
    pub in_flight_since: [u64; SIZE_BUCKETS],
}

impl HandlerStats {
    const EMPTY: Self = Self {
        name: "",
        instance: None,
        models: [LatencyModel::new(); SIZE_BUCKETS],
        bucket_calls: [0; SIZE_BUCKETS],
        calls: 0,
        total_latency_us: 0,
        failures: 0,
        consecutive_failures: 0,
        backoff_until: 0,
        in_flight: [0; SIZE_BUCKETS],
        in_flight_since: [0; SIZE_BUCKETS],
    };

    /// Returns the mean observed latency in µs (0 before the first call).
    pub fn mean_latency_us(&self) -> u64 {
        self.total_latency_us.checked_div(self.calls).unwrap_or(0)
    }

    /// Returns the model of the size class with the most calls (what
    /// reports show as the handler's weights).
    pub fn model(&self) -> &LatencyModel {
        let busiest = (0..SIZE_BUCKETS)
            .max_by_key(|bucket| (self.bucket_calls[*bucket], core::cmp::Reverse(*bucket)))
            .unwrap_or(0);
        &self.models[busiest]
    }

    /// Returns the predicted latency for `features`: the model of the
    /// call's size class once it has learned from a call there, else that
    /// of the nearest smaller class that has (a larger call costs at least
    /// as much: an optimistic bound), else the nearest larger one; zero
    /// before any call.
    pub fn predict(&self, features: &Features) -> Fixed {
        let bucket = features.bucket();
        let trained = |candidate: &usize| self.bucket_calls[*candidate] > 0;
        (0..=bucket)
            .rev()
            .find(trained)
            .or_else(|| (bucket + 1..SIZE_BUCKETS).find(trained))
            .map_or(Fixed::ZERO, |source| self.models[source].predict(features))
    }

    /// Returns the lower bound the reach test judges this handler by for
    /// `features` (zero when it never succeeded):
    ///
    /// - with `n` samples in the call's size class, `n / (n + 2)` of its
    ///   prediction (a third after one sample), so one unlucky first sample
    ///   does not rule a route out for good;
    /// - seen only in smaller classes, a third of that prediction (a larger
    ///   call costs at least as much);
    /// - seen only in larger classes, that prediction divided by 16 per class
    ///   between (the span of a class: a cost that grows with size shrinks at
    ///   least that much), so a route with a cheap start seen only on large
    ///   calls is still tried on small ones, and one a thousand times dearer
    ///   is not.
    pub fn optimistic(&self, features: &Features) -> Fixed {
        let bucket = features.bucket();
        let samples = i64::from(self.bucket_calls[bucket]);
        if samples > 0 {
            return self
                .predict(features)
                .mul(Fixed::from_ratio(samples, samples + 2));
        }
        if self.bucket_calls[..bucket].iter().any(|calls| *calls > 0) {
            return self.predict(features).mul(Fixed::from_ratio(1, 3));
        }
        let Some(above) = (bucket + 1..SIZE_BUCKETS).find(|class| self.bucket_calls[*class] > 0)
        else {
            return Fixed::ZERO;
        };
        let shrink = 1i64 << (4 * (above - bucket)).min(60);
        self.predict(features).mul(Fixed::from_ratio(1, shrink))
    }

    /// Returns the successful calls learned from.
    fn successes(&self) -> u64 {
        self.calls.saturating_sub(self.failures)
    }

    /// Returns whether a call of size class `bucket` is in flight on this
    /// handler, at decision `now`.
    fn busy_in(&self, bucket: usize, now: u64) -> bool {
        self.in_flight[bucket] > 0
            && now.saturating_sub(self.in_flight_since[bucket]) < IN_FLIGHT_EXPIRY_DECISIONS
    }

    /// Returns whether the handler's first sample of size class `bucket` is
    /// still in flight: nothing is known of it there yet, and soon will be.
    fn first_in_flight(&self, bucket: usize, now: u64) -> bool {
        self.bucket_calls[bucket] == 0 && self.busy_in(bucket, now)
    }

    /// Counts a call of size class `bucket` as landed (recorded or abandoned).
    fn landed(&mut self, bucket: usize) {
        self.in_flight[bucket] = self.in_flight[bucket].saturating_sub(1);
    }
}

/// What [`DispatchEntry::select`] decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Selection {
    /// The chosen handler.
    pub handler: HandlerId,
    /// Its predicted latency for the call, µs.
    pub predicted_us: Fixed,
    /// Whether it was chosen to explore (warm-up or random) rather than
    /// because it predicted lowest.
    pub explored: bool,
}

/// One operation of the table with its handler implementations.
#[derive(Clone, Debug)]
pub struct DispatchEntry {
    name: &'static str,
    handlers: [HandlerStats; MAX_HANDLERS],
    count: usize,
    config: AdaptiveConfig,
    exploration: EpsilonGreedy,
    rng: Rng,
    calls: u64,
    explored_calls: u64,
    /// Per handler, the mask of its family: the handlers linked to it by a
    /// chain of shared kinds (names) or devices (instances), itself included.
    families: [u32; MAX_HANDLERS],
}

impl DispatchEntry {
    /// Returns an entry called `name` without handlers.
    pub const fn new(name: &'static str, config: AdaptiveConfig) -> Self {
        Self {
            name,
            handlers: [HandlerStats::EMPTY; MAX_HANDLERS],
            count: 0,
            config,
            exploration: EpsilonGreedy::new(
                config.exploration_start,
                config.exploration_floor,
                config.exploration_half_life,
            ),
            rng: Rng::new(config.seed),
            calls: 0,
            explored_calls: 0,
            families: [0; MAX_HANDLERS],
        }
    }

    /// Adds a handler; returns its id.
    pub fn add_handler(
        &mut self,
        name: &'static str,
        instance: Option<u16>,
    ) -> Result<HandlerId, TableFull> {
        if self.count == MAX_HANDLERS {
            return Err(TableFull);
        }
        self.handlers[self.count] = HandlerStats {
            name,
            instance,
            ..HandlerStats::EMPTY
        };
        self.count += 1;
        self.link_families();
        Ok(HandlerId((self.count - 1) as u8))
    }

    /// Recomputes the families: relatives share a kind or a device, and the
    /// relation is closed under chains (a fixed point over at most
    /// [`MAX_HANDLERS`] handlers, run only when a handler is added).
    fn link_families(&mut self) {
        let handlers = &self.handlers[..self.count];
        let related = |a: &HandlerStats, b: &HandlerStats| {
            a.name == b.name || (a.instance.is_some() && a.instance == b.instance)
        };
        let mut families = [0u32; MAX_HANDLERS];
        for (index, handler) in handlers.iter().enumerate() {
            families[index] = handlers
                .iter()
                .enumerate()
                .filter(|(_, other)| related(handler, other))
                .fold(0, |mask, (other, _)| mask | (1 << other));
        }
        loop {
            let mut changed = false;
            for index in 0..handlers.len() {
                let merged = (0..handlers.len())
                    .filter(|member| families[index] & (1 << member) != 0)
                    .fold(families[index], |mask, member| mask | families[member]);
                changed |= merged != families[index];
                families[index] = merged;
            }
            if !changed {
                break;
            }
        }
        self.families = families;
    }

    /// Returns the entry's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Returns the handlers.
    pub fn handlers(&self) -> &[HandlerStats] {
        &self.handlers[..self.count]
    }

    /// Returns the id of the handler called `name` with `instance`.
    pub fn find(&self, name: &str, instance: Option<u16>) -> Option<HandlerId> {
        self.handlers()
            .iter()
            .position(|handler| handler.name == name && handler.instance == instance)
            .map(|index| HandlerId(index as u8))
    }

    /// Returns the predicted latency of `handler` for `features`, µs.
    ///
    /// A handler that never succeeded borrows the lowest prediction of its
    /// relatives that have, the handlers linked to it by the same kind
    /// (name) or the same device (instance): polling and interrupt on one
    /// device, or the same route on its twin device, cost alike. Without relatives it
    /// predicts zero (unknown: it gets one free try).
    pub fn predict(&self, handler: HandlerId, features: &Features) -> Fixed {
        let Some(stats) = self.handlers().get(usize::from(handler.0)) else {
            return Fixed::MAX;
        };
        if stats.successes() > 0 {
            return stats.predict(features);
        }
        self.relatives_prediction(usize::from(handler.0), features)
            .unwrap_or(Fixed::ZERO)
    }

    /// Returns the lowest prediction among `handler`'s relatives that
    /// succeeded (its family, see [`Self::add_handler`]).
    fn relatives_prediction(&self, handler: usize, features: &Features) -> Option<Fixed> {
        let family = self.families[handler];
        self.handlers()
            .iter()
            .enumerate()
            .filter(|(index, other)| family & (1 << index) != 0 && other.successes() > 0)
            .map(|(_, other)| other.predict(features))
            .min()
    }

    /// Returns the lowest prediction among `handler`'s relatives (itself
    /// not included) that finished their warm-up in the call's size class:
    /// what its twin costs here, from the twin's own samples here (not a
    /// guess carried over from another class).
    fn warm_relatives_prediction(&self, handler: usize, features: &Features) -> Option<Fixed> {
        let family = self.families[handler] & !(1 << handler);
        let bucket = features.bucket();
        let warmup = self.config.warmup_calls;
        self.handlers()
            .iter()
            .enumerate()
            .filter(|(index, other)| {
                family & (1 << index) != 0 && other.bucket_calls[bucket] >= warmup
            })
            .map(|(_, other)| other.models[bucket].predict(features))
            .min()
    }

    /// Returns the mask of handlers that succeeded at least once (computed
    /// once per decision: [`Self::unknown`] reads it for every handler).
    fn succeeded(&self) -> u32 {
        self.handlers()
            .iter()
            .enumerate()
            .filter(|(_, stats)| stats.successes() > 0)
            .fold(0, |mask, (index, _)| mask | (1 << index))
    }

    /// Returns whether nothing is known of `handler`: neither it nor a
    /// relative is in `succeeded` ([`Self::succeeded`]).
    fn unknown(&self, handler: HandlerId, succeeded: u32) -> bool {
        self.families[usize::from(handler.0)] & succeeded == 0
    }

    /// Returns the allowed handler with the lowest predicted latency (no
    /// exploration), or `None` when `allowed` names no handler.
    pub fn best(&self, features: &Features, allowed: HandlerMask) -> Option<(HandlerId, Fixed)> {
        let succeeded = self.succeeded();
        let bucket = features.bucket();
        (0..self.count)
            .map(|index| HandlerId(index as u8))
            .filter(|handler| allowed.allows(*handler))
            .map(|handler| (handler, self.predict(handler, features)))
            // A handler nothing is known of predicts nothing yet, and one whose
            // first sample of this size class is on its way predicts only what
            // smaller calls taught it: known ones first.
            .min_by_key(|(handler, predicted)| {
                let stats = &self.handlers[usize::from(handler.0)];
                (
                    self.unknown(*handler, succeeded),
                    stats.first_in_flight(bucket, self.calls),
                    *predicted,
                )
            })
    }

    /// Chooses the handler for a call with `features` among `allowed`:
    /// warm-up first, then the lowest prediction, with decaying random
    /// exploration. Returns `None` when no handler is allowed.
    ///
    /// Exploration has a bounded price: a handler's first call is free when
    /// nothing is known of it or its relatives (see [`Self::predict`]), but
    /// every later warm-up call and every random
    /// exploration only goes to handlers whose prediction for this call lies
    /// within [`AdaptiveConfig::exploration_reach`] times the best one (plus
    /// the slack). Handlers backing off after failures sit out unless nothing
    /// else is allowed.
    pub fn select(&mut self, features: &Features, allowed: HandlerMask) -> Option<Selection> {
        let allowed = self.without_backoff(allowed);
        let (best, predicted_us) = self.best(features, allowed)?;
        self.calls = self.calls.saturating_add(1);
        let limit = predicted_us
            .max(Fixed::ZERO)
            .mul(self.config.exploration_reach)
            + Fixed::from_int(i64::from(self.config.exploration_slack_us));
        let succeeded = self.succeeded();
        let mut reach = HandlerMask::NONE;
        let mut candidates = 0u64;
        let bucket = features.bucket();
        for handler in (0..self.count).map(|index| HandlerId(index as u8)) {
            let stats = &self.handlers[usize::from(handler.0)];
            let known = !self.unknown(handler, succeeded);
            // Judged by its lower bound (see `HandlerStats::optimistic`); one
            // known only through relatives, by their prediction as it is (a
            // relative is a likeness, not a sample of this route).
            //
            // Until its warm-up in this size class is done, a route is also
            // judged by its relatives: one first sample that queued behind
            // a 100 ms call must not rule out for good a route whose twin
            // costs a hundred times less (warm-up then takes its next
            // samples, and from then on its own data decide).
            let optimistic = if stats.successes() > 0 {
                let own = stats.optimistic(features);
                if stats.bucket_calls[bucket] < self.config.warmup_calls {
                    self.warm_relatives_prediction(usize::from(handler.0), features)
                        .map_or(own, |relatives| own.min(relatives))
                } else {
                    own
                }
            } else {
                self.predict(handler, features)
            };
            let waiting = stats.first_in_flight(bucket, self.calls);
            if allowed.allows(handler) && known && !waiting && optimistic <= limit {
                reach = reach.with(handler);
                candidates += 1;
            }
        }
        // Warm-up: a free try of what nothing is known of, then a few calls
        // per size class for routes within reach.
        let warmup = self.config.warmup_calls;
        let untried = (0..self.count)
            .map(|index| HandlerId(index as u8))
            .filter(|handler| {
                let stats = &self.handlers[usize::from(handler.0)];
                let in_bucket = stats.bucket_calls[bucket];
                // One warm-up call at a time per handler and class: the next
                // waits for what this one teaches.
                let busy = stats.busy_in(bucket, self.calls);
                let never_tried = self.unknown(*handler, succeeded)
                    && stats.in_flight.iter().all(|count| *count == 0);
                allowed.allows(*handler)
                    && (never_tried || (in_bucket < warmup && !busy && reach.allows(*handler)))
            })
            .min_by_key(|handler| {
                let stats = &self.handlers[usize::from(handler.0)];
                (
                    !self.unknown(*handler, succeeded),
                    stats.bucket_calls[bucket],
                )
            });
        let chosen = if let Some(handler) = untried {
            Some(handler)
        } else if self.exploration.explore(&mut self.rng) {
            let pick = self.rng.below(candidates.max(1)) as usize;
            (0..self.count)
                .map(|index| HandlerId(index as u8))
                .filter(|handler| reach.allows(*handler))
                .nth(pick)
        } else {
            None
        };
        let selection = match chosen {
            Some(handler) if handler != best => {
                self.explored_calls = self.explored_calls.saturating_add(1);
                Selection {
                    handler,
                    predicted_us: self.predict(handler, features),
                    explored: true,
                }
            }
            _ => Selection {
                handler: best,
                predicted_us,
                explored: false,
            },
        };
        let now = self.calls;
        let stats = &mut self.handlers[usize::from(selection.handler.0)];
        stats.in_flight[bucket] = stats.in_flight[bucket].saturating_add(1);
        stats.in_flight_since[bucket] = now;
        Some(selection)
    }

    /// Returns `allowed` without the handlers backing off, or `allowed` as
    /// it is when every allowed handler backs off.
    fn without_backoff(&self, allowed: HandlerMask) -> HandlerMask {
        let mut kept = allowed;
        for (index, handler) in self.handlers().iter().enumerate() {
            if handler.backoff_until > self.calls {
                kept.0 &= !(1u32 << index);
            }
        }
        let any_kept = (0..self.count).any(|index| kept.allows(HandlerId(index as u8)));
        if any_kept { kept } else { allowed }
    }

    /// Records that `handler` served a call with `features` in `latency_us`
    /// and takes one gradient step on its model. Returns the prediction
    /// error before the step (observed − predicted), µs.
    pub fn record(&mut self, handler: HandlerId, features: &Features, latency_us: u64) -> Fixed {
        let learning_rate = self.config.learning_rate;
        let Some(stats) = self.handlers[..self.count].get_mut(usize::from(handler.0)) else {
            return Fixed::ZERO;
        };
        let observed = Fixed::from_int(i64::try_from(latency_us).unwrap_or(i64::MAX));
        let bucket = features.bucket();
        stats.landed(bucket);
        let error = observed - stats.predict(features);
        stats.calls = stats.calls.saturating_add(1);
        stats.total_latency_us = stats.total_latency_us.saturating_add(latency_us);
        stats.consecutive_failures = 0;
        stats.backoff_until = 0;
        let first = stats.bucket_calls[bucket] == 0;
        stats.bucket_calls[bucket] = stats.bucket_calls[bucket].saturating_add(1);
        if first {
            // The first observation in a size class is all it knows: predict it.
            stats.models[bucket] = LatencyModel::constant(observed);
            return error;
        }
        // The first samples of a class are averaged (step 1/n), so one early
        // outlier (a job that queued behind another) does not linger for the
        // many steps a small constant rate would need.
        let averaging = Fixed::from_ratio(1, i64::from(stats.bucket_calls[bucket]));
        stats.models[bucket].step(features, observed, learning_rate.max(averaging));
        error
    }

    /// Records that `handler` failed (timed out, device error): counted, and
    /// it also counts as a call, so warm-up does not retry it forever; it
    /// then sits out [`AdaptiveConfig::failure_backoff_calls`] decisions,
    /// doubled for each further failure in a row.
    pub fn record_failure(&mut self, handler: HandlerId, features: &Features) {
        let decisions = self.calls;
        let base = u64::from(self.config.failure_backoff_calls);
        if let Some(stats) = self.handlers[..self.count].get_mut(usize::from(handler.0)) {
            stats.landed(features.bucket());
            stats.failures = stats.failures.saturating_add(1);
            stats.calls = stats.calls.saturating_add(1);
            stats.consecutive_failures = stats.consecutive_failures.saturating_add(1);
            let doublings = (stats.consecutive_failures - 1).min(10);
            stats.backoff_until = decisions.saturating_add(base << doublings);
        }
    }

    /// Forgets a call chosen for `handler` that ended without telling
    /// anything about it (another caller held the device): it is no longer
    /// in flight, and nothing is learned.
    pub fn abandon(&mut self, handler: HandlerId, features: &Features) {
        if let Some(stats) = self.handlers[..self.count].get_mut(usize::from(handler.0)) {
            stats.landed(features.bucket());
        }
    }

    /// Returns (decisions, decisions that explored).
    pub const fn decisions(&self) -> (u64, u64) {
        (self.calls, self.explored_calls)
    }

    /// Returns printable lines describing the entry: one header line, then
    /// one line per handler (name, calls, mean latency, weights).
    pub fn report_lines(&self) -> impl Iterator<Item = ReportLine<'_>> + '_ {
        core::iter::once(ReportLine::Header(self))
            .chain(self.handlers().iter().map(ReportLine::Handler))
    }
}

/// One printable line of [`DispatchEntry::report_lines`].
#[derive(Clone, Copy, Debug)]
pub enum ReportLine<'a> {
    /// The entry's name, decisions and exploration rate.
    Header(&'a DispatchEntry),
    /// One handler's statistics and weights.
    Handler(&'a HandlerStats),
}

impl fmt::Display for ReportLine<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Header(entry) => write!(
                formatter,
                "{}: {} calls, {} explored, exploration now {}",
                entry.name,
                entry.calls,
                entry.explored_calls,
                entry.exploration.epsilon()
            ),
            Self::Handler(stats) => {
                let [fixed, per_kib, per_work, per_job] = stats.model().weights();
                match stats.instance {
                    Some(instance) => write!(formatter, "  {}#{instance:<3}", stats.name)?,
                    None => write!(formatter, "  {:<4}", stats.name)?,
                }
                write!(
                    formatter,
                    " calls {} failed {} mean {} us, K = [{fixed} + {per_kib}/KiB + {per_work}/work + {per_job}/job]",
                    stats.calls,
                    stats.failures,
                    stats.mean_latency_us(),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Simulated handler costs (µs) over payload bytes: a fixed-cost
    /// handler with a cheap per-byte rate and a free-to-start expensive one.
    fn cost(handler: HandlerId, bytes: u64, rng: &mut Rng) -> u64 {
        let noise = rng.below(5);
        match handler.0 {
            0 => 200 + bytes / 64 + noise, // "dma": fixed setup, cheap per byte
            1 => 5 + bytes / 4 + noise,    // "register copy": cheap start, dear per byte
            _ => 1000 + noise,             // "slow": never the best
        }
    }

    fn entry() -> DispatchEntry {
        let mut entry = DispatchEntry::new("copy", AdaptiveConfig::default());
        entry.add_handler("dma", Some(0)).unwrap();
        entry.add_handler("register", Some(0)).unwrap();
        entry.add_handler("slow", None).unwrap();
        entry
    }

    #[test]
    fn exploration_skips_handlers_far_out_of_reach() {
        let mut entry = entry();
        let mut rng = Rng::new(3);
        let features = Features::call(64, 0);
        let mut slow_after_warmup = 0;
        let mut explored_near_tie = 0;
        for call in 0..2000 {
            let selection = entry.select(&features, HandlerMask::ALL).unwrap();
            let latency = cost(selection.handler, 64, &mut rng);
            entry.record(selection.handler, &features, latency);
            if call >= 100 && selection.handler == HandlerId(2) {
                slow_after_warmup += 1;
            }
            if call >= 100 && selection.explored && selection.handler != HandlerId(2) {
                explored_near_tie += 1;
            }
        }
        // "slow" (1000 us) is ~45x the best (~21 us) at 64 B: never retried.
        // "dma" (~201 us) is beyond 4x + 50 us once its model has learned;
        // uniform exploration at the 1% floor would try it ~12 times here.
        assert_eq!(slow_after_warmup, 0);
        assert!(
            explored_near_tie < 5,
            "{explored_near_tie} explorations out of reach"
        );
        // At 4 KiB "dma" (264 us) and "register" (1029 us) are within reach
        // of each other, so exploration still happens there.
        let large = Features::call(4096, 0);
        let explored = (0..2000)
            .filter(|_| {
                let selection = entry.select(&large, HandlerMask::ALL).unwrap();
                let latency = cost(selection.handler, 4096, &mut rng);
                entry.record(selection.handler, &large, latency);
                selection.explored
            })
            .count();
        assert!(explored > 0, "no exploration among handlers within reach");
    }

    #[test]
    fn weights_move_toward_observed_latencies() {
        let mut entry = entry();
        let features = Features::call(1024, 0);
        let handler = HandlerId(0);
        let mut rng = Rng::new(9);
        let target = Fixed::from_int(200 + 1024 / 64);
        let mut last_gap = (entry.predict(handler, &features) - target).raw().abs();
        for round in 0..10 {
            for _ in 0..5 {
                let latency = cost(handler, 1024, &mut rng);
                entry.record(handler, &features, latency);
            }
            let gap = (entry.predict(handler, &features) - target).raw().abs();
            // Until it is within the noise (5 µs), every round gets closer.
            let noise = Fixed::from_int(5).raw();
            assert!(
                gap <= last_gap || gap < noise,
                "round {round}: gap grew from {last_gap} to {gap}"
            );
            last_gap = gap;
        }
        assert!(
            last_gap < Fixed::from_int(10).raw(),
            "prediction still {last_gap} raw off"
        );
        assert_eq!(entry.handlers()[0].calls, 50);
    }

    #[test]
    fn selection_converges_to_the_fastest_handler_per_size_class() {
        let mut entry = entry();
        let mut rng = Rng::new(11);
        let sizes = [64u64, 256, 4096, 16384];
        for call in 0..3000u64 {
            let bytes = sizes[(call % sizes.len() as u64) as usize];
            let features = Features::call(bytes, 0);
            let selection = entry.select(&features, HandlerMask::ALL).unwrap();
            let latency = cost(selection.handler, bytes, &mut rng);
            entry.record(selection.handler, &features, latency);
        }
        for bytes in sizes {
            let features = Features::call(bytes, 0);
            let fastest = (0..3u8)
                .map(HandlerId)
                .min_by_key(|handler| {
                    let mut quiet = Rng::new(0);
                    cost(*handler, bytes, &mut quiet)
                })
                .unwrap();
            let (chosen, predicted) = entry.best(&features, HandlerMask::ALL).unwrap();
            assert_eq!(chosen, fastest, "{bytes} bytes: predicted {predicted}");
        }
        // Exploration decayed: most late decisions exploit.
        let (decisions, explored) = entry.decisions();
        assert!(
            explored * 5 < decisions,
            "{explored} of {decisions} explored"
        );
    }

    #[test]
    fn masked_handlers_are_never_chosen() {
        let mut entry = entry();
        let features = Features::call(64, 0);
        let only_slow = HandlerMask::NONE.with(HandlerId(2));
        for _ in 0..100 {
            let selection = entry.select(&features, only_slow).unwrap();
            assert_eq!(selection.handler, HandlerId(2));
            entry.record(selection.handler, &features, 1000);
        }
        assert!(entry.select(&features, HandlerMask::NONE).is_none());
    }

    #[test]
    fn every_allowed_handler_is_warmed_up_first() {
        let mut entry = entry();
        let features = Features::call(64, 0);
        let mut seen = [0u32; 3];
        for _ in 0..9 {
            let selection = entry.select(&features, HandlerMask::ALL).unwrap();
            seen[usize::from(selection.handler.0)] += 1;
            entry.record(selection.handler, &features, 10);
        }
        assert_eq!(seen, [3, 3, 3]);
    }

    #[test]
    fn table_is_bounded_and_reports_every_handler() {
        let mut entry = DispatchEntry::new("full", AdaptiveConfig::default());
        for index in 0..MAX_HANDLERS {
            entry.add_handler("h", Some(index as u16)).unwrap();
        }
        assert_eq!(entry.add_handler("h", None), Err(TableFull));
        entry.record(HandlerId(3), &Features::call(0, 0), 42);
        let lines: Vec<String> = entry.report_lines().map(|line| line.to_string()).collect();
        assert_eq!(lines.len(), MAX_HANDLERS + 1);
        assert!(
            lines[4].contains("h#3") && lines[4].contains("mean 42 us"),
            "{}",
            lines[4]
        );
        assert_eq!(entry.find("h", Some(5)), Some(HandlerId(5)));
    }

    #[test]
    fn a_far_slower_handler_is_tried_once_not_warmed_up() {
        // Two handlers at 2 µs and 100 ms (an edu DMA beside a CPU copy):
        // the slow one's first call shows it is far out of reach, so warm-up
        // does not pay for it twice more.
        let mut entry = DispatchEntry::new("copy", AdaptiveConfig::default());
        entry.add_handler("cpu", None).unwrap();
        entry.add_handler("dma", Some(0)).unwrap();
        let features = Features::call(64, 0);
        let mut slow_calls = 0;
        for _ in 0..1000 {
            let selection = entry.select(&features, HandlerMask::ALL).unwrap();
            let latency = if selection.handler == HandlerId(0) {
                2
            } else {
                100_000
            };
            slow_calls += u32::from(selection.handler == HandlerId(1));
            entry.record(selection.handler, &features, latency);
        }
        assert_eq!(slow_calls, 1);
        // The first observation is predicted as it was.
        assert_eq!(entry.predict(HandlerId(1), &features).floor_int(), 100_000);
    }

    #[test]
    fn failing_handlers_back_off_and_the_backoff_doubles() {
        let mut entry = DispatchEntry::new("job", AdaptiveConfig::default());
        entry.add_handler("device", Some(0)).unwrap();
        entry.add_handler("cpu", None).unwrap();
        let features = Features::call(64, 0);
        // Warm both up; the device is the faster one.
        for _ in 0..10 {
            let selection = entry.select(&features, HandlerMask::ALL).unwrap();
            let latency = if selection.handler == HandlerId(0) {
                5
            } else {
                20
            };
            entry.record(selection.handler, &features, latency);
        }
        let mut gaps = Vec::new();
        let mut last_failure = None;
        for decision in 0..2000u32 {
            let selection = entry.select(&features, HandlerMask::ALL).unwrap();
            if selection.handler == HandlerId(0) {
                // The device fails every time now (its backend died).
                entry.record_failure(HandlerId(0), &features);
                if let Some(last) = last_failure {
                    gaps.push(decision - last);
                }
                last_failure = Some(decision);
            } else {
                entry.record(selection.handler, &features, 20);
            }
        }
        let base = AdaptiveConfig::default().failure_backoff_calls;
        assert!(gaps.len() >= 3, "retried only {} times", gaps.len());
        for (index, gap) in gaps.iter().take(5).enumerate() {
            assert!(*gap > base << index, "retry {index} after {gap} decisions");
        }
        // Alone, a backing-off handler is still chosen.
        let only_device = HandlerMask::NONE.with(HandlerId(0));
        assert_eq!(
            entry
                .select(&features, only_device)
                .map(|selection| selection.handler),
            Some(HandlerId(0))
        );
        // A success ends the backoff.
        entry.record(HandlerId(0), &features, 5);
        assert_eq!(entry.handlers()[0].consecutive_failures, 0);
    }

    #[test]
    fn relatives_share_what_one_of_them_cost() {
        // Polling and interrupt DMA on two devices, all 100 ms, beside a
        // 2 µs CPU copy: one DMA try tells the price of all four.
        let mut entry = DispatchEntry::new("copy", AdaptiveConfig::default());
        entry.add_handler("cpu", None).unwrap();
        for device in 0..2 {
            entry.add_handler("dma-poll", Some(device)).unwrap();
            entry.add_handler("dma-irq", Some(device)).unwrap();
        }
        let mut device_calls = 0;
        for call in 0..1000u64 {
            let features = Features::call([64, 4095][(call % 2) as usize], 0);
            let selection = entry.select(&features, HandlerMask::ALL).unwrap();
            let latency = if selection.handler == HandlerId(0) {
                2
            } else {
                100_000
            };
            device_calls += u32::from(selection.handler != HandlerId(0));
            entry.record(selection.handler, &features, latency);
        }
        assert_eq!(device_calls, 1, "one DMA try prices all four");
    }

    #[test]
    fn a_size_class_below_all_seen_gets_one_try() {
        // Seen only on large calls, the cheap-start handler is tried once on
        // small ones, where it wins.
        let mut entry = entry();
        let large = Features::call(16384, 0);
        let small = Features::call(64, 0);
        let mut rng = Rng::new(5);
        for _ in 0..20 {
            let selection = entry.select(&large, HandlerMask::ALL).unwrap();
            let latency = cost(selection.handler, 16384, &mut rng);
            entry.record(selection.handler, &large, latency);
        }
        for _ in 0..200 {
            let selection = entry.select(&small, HandlerMask::ALL).unwrap();
            let latency = cost(selection.handler, 64, &mut rng);
            entry.record(selection.handler, &small, latency);
        }
        assert_eq!(
            entry.best(&small, HandlerMask::ALL).map(|best| best.0),
            Some(HandlerId(1))
        );
    }

    #[test]
    fn concurrent_callers_do_not_all_pay_for_the_same_first_sample() {
        let mut entry = DispatchEntry::new("matmul", AdaptiveConfig::default());
        let cpu = entry.add_handler("cpu", None).unwrap();
        let device = entry.add_handler("poll", Some(0)).unwrap();
        let small = Features::job(1024, 512, 0);
        for _ in 0..20 {
            let selection = entry.select(&small, HandlerMask::ALL).unwrap();
            let latency = if selection.handler == cpu { 20 } else { 100 };
            entry.record(selection.handler, &small, latency);
        }
        // Three callers decide on a large call before the first returns.
        let large = Features::job(300 * 1024, 4 << 20, 0);
        assert_ne!(large.bucket(), small.bucket());
        let first = entry.select(&large, HandlerMask::ALL).unwrap().handler;
        let second = entry.select(&large, HandlerMask::ALL).unwrap().handler;
        assert_ne!(first, second, "both callers took the same untried route");
        // Abandoning frees the route again (nothing was learned).
        entry.abandon(second, &large);
        assert_eq!(
            entry.handlers()[usize::from(second.0)].in_flight[large.bucket()],
            0
        );
        entry.record(first, &large, if first == cpu { 100_000 } else { 1_000 });
        let other = if first == cpu { device } else { cpu };
        let next = entry.select(&large, HandlerMask::ALL).unwrap().handler;
        assert_eq!(
            next, other,
            "the other route's first sample is still missing"
        );
        entry.record(next, &large, if next == cpu { 100_000 } else { 1_000 });
        // Learned: the CPU is a hundred times dearer here and out of reach.
        let on_cpu = (0..200)
            .filter(|_| {
                let selection = entry.select(&large, HandlerMask::ALL).unwrap();
                let latency = if selection.handler == cpu {
                    100_000
                } else {
                    1_000
                };
                entry.record(selection.handler, &large, latency);
                selection.handler == cpu
            })
            .count();
        assert_eq!(on_cpu, 0);
    }

    #[test]
    fn a_call_never_recorded_stops_counting_as_in_flight() {
        let mut entry = DispatchEntry::new("matmul", AdaptiveConfig::default());
        let cpu = entry.add_handler("cpu", None).unwrap();
        let features = Features::job(1024, 512, 0);
        let first = entry.select(&features, HandlerMask::ALL).unwrap();
        assert_eq!(first.handler, cpu);
        // Its caller died; the only route is chosen anyway, and after the
        // expiry the lost call no longer holds back warm-up.
        for _ in 0..IN_FLIGHT_EXPIRY_DECISIONS {
            let selection = entry
                .select(&Features::job(64, 0, 0), HandlerMask::ALL)
                .unwrap();
            entry.record(selection.handler, &Features::job(64, 0, 0), 5);
        }
        let stats = &entry.handlers()[0];
        assert!(!stats.busy_in(features.bucket(), entry.calls));
    }
}
