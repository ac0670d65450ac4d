//! A linear latency model over call features, trained by normalised gradient steps.
//!
//! The model predicts a handler's latency in microseconds as `K · x`; see the
//! module documentation of [`crate::adaptive`] for the update rule.

use crate::fixed::{FRACTION_BITS, Fixed};

/// Number of features of a call (and weights of a model).
pub const FEATURES: usize = 4;
/// Bytes per unit of the payload feature (payload is measured in KiB).
const PAYLOAD_UNIT_BYTES: i64 = 1024;
/// Operations per unit of the work feature (2^16 multiply-adds).
pub const WORK_UNIT: i64 = 1 << 16;
/// Size classes a handler keeps a model for ([`Features::bucket`]).
pub const SIZE_BUCKETS: usize = 8;

/// What the model knows about one call: `(1, payload in KiB, work in units
/// of` [`WORK_UNIT`] `operations, queue depth)`.
///
/// The constant first feature carries the handler's fixed cost. Payload and
/// work are separate because they cost differently on different routes: a
/// device route pays per byte moved and little per operation, the CPU the
/// other way round, so one linear model per route fits both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features(pub [Fixed; FEATURES]);

impl Features {
    /// Returns the features of a call moving `payload_bytes` (or, for a
    /// computation, an input of that magnitude) while `queue_depth` jobs
    /// already wait on the target; no separate work.
    pub fn call(payload_bytes: u64, queue_depth: u32) -> Self {
        Self::job(payload_bytes, 0, queue_depth)
    }

    /// Returns the features of a job moving `payload_bytes` and doing
    /// `operations` (multiply-adds, say) while `queue_depth` jobs already
    /// wait on the target.
    pub fn job(payload_bytes: u64, operations: u64, queue_depth: u32) -> Self {
        let payload = i64::try_from(payload_bytes).unwrap_or(i64::MAX);
        let operations = i64::try_from(operations).unwrap_or(i64::MAX);
        Self([
            Fixed::ONE,
            Fixed::from_ratio(payload, PAYLOAD_UNIT_BYTES),
            Fixed::from_ratio(operations, WORK_UNIT),
            Fixed::from_int(i64::from(queue_depth)),
        ])
    }

    /// Returns the call's size class: `log2(bytes + operations) / 4`, at most
    /// [`SIZE_BUCKETS`]` - 1` (each class spans a factor of 16 in size).
    ///
    /// One linear model cannot fit a handler over five orders of magnitude
    /// of size without its small calls pulling the weights its large calls
    /// rely on (and the other way round); a model per size class can.
    pub fn bucket(&self) -> usize {
        // Raw Q16.16: KiB * 2^16 is bytes * 64; work units * 2^16 is operations.
        let bytes = (self.0[1].raw() / 64).max(0) as u64;
        let operations = self.0[2].raw().max(0) as u64;
        let size = bytes.saturating_add(operations).max(1);
        ((size.ilog2() / 4) as usize).min(SIZE_BUCKETS - 1)
    }

    /// Returns `1 + |x|²`, the normaliser of the gradient step.
    fn norm(&self) -> Fixed {
        self.0
            .iter()
            .fold(Fixed::ONE, |sum, feature| sum + feature.mul(*feature))
    }
}

/// Linear latency model: weights `K`, prediction `K · x` microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyModel {
    weights: [Fixed; FEATURES],
}

impl LatencyModel {
    /// Returns a model predicting zero for every call.
    pub const fn new() -> Self {
        Self {
            weights: [Fixed::ZERO; FEATURES],
        }
    }

    /// Returns a model predicting `latency_us` for every call: the start a
    /// handler's first observation gives it (a model starting at zero would
    /// need many steps to reach a slow handler's cost, and meanwhile look
    /// cheap enough to be tried again and again).
    pub const fn constant(latency_us: Fixed) -> Self {
        let mut weights = [Fixed::ZERO; FEATURES];
        weights[0] = latency_us;
        Self { weights }
    }

    /// Returns the weights `K`.
    pub const fn weights(&self) -> [Fixed; FEATURES] {
        self.weights
    }

    /// Returns the predicted latency `K · x` (µs) for `features`.
    pub fn predict(&self, features: &Features) -> Fixed {
        self.weights
            .iter()
            .zip(features.0.iter())
            .fold(Fixed::ZERO, |sum, (weight, feature)| {
                sum + weight.mul(*feature)
            })
    }

    /// Takes one gradient step toward the observed latency `observed_us`:
    /// `K += alpha · (observed − K · x) · x / (1 + |x|²)`.
    ///
    /// Returns the error before the step (`observed − predicted`).
    pub fn step(&mut self, features: &Features, observed_us: Fixed, alpha: Fixed) -> Fixed {
        let error = observed_us - self.predict(features);
        let scaled_error = alpha.mul(error);
        let norm = features.norm();
        for (weight, feature) in self.weights.iter_mut().zip(features.0.iter()) {
            let numerator = i128::from(scaled_error.mul(*feature).raw()) << FRACTION_BITS;
            let delta = numerator / i128::from(norm.raw().max(1));
            let delta = delta.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
            *weight = *weight + Fixed::from_raw(delta);
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alpha() -> Fixed {
        Fixed::from_ratio(1, 2)
    }

    #[test]
    fn prediction_is_dot_product() {
        let mut model = LatencyModel::new();
        model.weights = [
            Fixed::from_int(10),
            Fixed::from_int(3),
            Fixed::from_int(4),
            Fixed::from_int(5),
        ];
        let features = Features::job(2048, 3 * WORK_UNIT as u64, 1);
        assert_eq!(
            model.predict(&features),
            Fixed::from_int(10 + 3 * 2 + 4 * 3 + 5)
        );
    }

    #[test]
    fn each_step_reduces_the_error_on_the_same_call() {
        let mut model = LatencyModel::new();
        let features = Features::call(4096, 2);
        let target = Fixed::from_int(1000);
        let mut last_error = i64::MAX;
        for _ in 0..20 {
            model.step(&features, target, alpha());
            let error = (target - model.predict(&features)).raw().abs();
            assert!(
                error < last_error || error == 0,
                "error grew: {error} after {last_error}"
            );
            last_error = error;
        }
        assert!(
            last_error < Fixed::ONE.raw(),
            "still off by {last_error} raw"
        );
    }

    #[test]
    fn weights_recover_a_linear_cost() {
        // Latency = 40 µs + 25 µs per KiB + 7 µs per queued job.
        let mut model = LatencyModel::new();
        let mut rng = crate::Rng::new(3);
        for _ in 0..4000 {
            let bytes = rng.below(8192);
            let depth = rng.below(4) as u32;
            let features = Features::call(bytes, depth);
            let truth = Fixed::from_int(40)
                + Fixed::from_int(25).mul(features.0[1])
                + Fixed::from_int(7 * i64::from(depth));
            model.step(&features, truth, Fixed::from_ratio(1, 4));
        }
        let [fixed_cost, per_kib, _, per_job] = model.weights();
        assert!(
            (fixed_cost.floor_int() - 40).abs() <= 1,
            "fixed cost {fixed_cost}"
        );
        assert!((per_kib.floor_int() - 25).abs() <= 1, "per KiB {per_kib}");
        assert!((per_job.floor_int() - 7).abs() <= 1, "per job {per_job}");
    }

    #[test]
    fn buckets_span_factors_of_sixteen() {
        assert_eq!(Features::call(0, 0).bucket(), 0);
        assert_eq!(Features::call(15, 0).bucket(), 0);
        assert_eq!(Features::call(16, 0).bucket(), 1);
        assert_eq!(Features::call(4095, 0).bucket(), 2);
        assert_eq!(Features::call(4096, 0).bucket(), 3);
        // 8x8x8 f32: 768 bytes and 512 multiply-adds; 160^3: 300 KiB and 4M.
        assert_eq!(Features::job(768, 512, 0).bucket(), 2);
        assert_eq!(Features::job(307_200, 4_096_000, 0).bucket(), 5);
        assert_eq!(
            Features::job(u64::MAX, u64::MAX, 0).bucket(),
            SIZE_BUCKETS - 1
        );
    }

    #[test]
    fn bytes_and_work_are_told_apart() {
        // Latency = 30 µs + 2 µs per KiB + 9 µs per work unit: the shapes vary
        // independently, so both slopes are identifiable.
        let mut model = LatencyModel::new();
        let mut rng = crate::Rng::new(11);
        for _ in 0..20_000 {
            let bytes = rng.below(64 * 1024);
            let work = rng.below(64 * WORK_UNIT as u64);
            let features = Features::job(bytes, work, 0);
            let truth = Fixed::from_int(30)
                + Fixed::from_int(2).mul(features.0[1])
                + Fixed::from_int(9).mul(features.0[2]);
            model.step(&features, truth, Fixed::from_ratio(1, 2));
        }
        let [fixed_cost, per_kib, per_work, _] = model.weights();
        assert!(
            (fixed_cost.floor_int() - 30).abs() <= 2,
            "fixed cost {fixed_cost}"
        );
        assert!((per_kib.floor_int() - 2).abs() <= 1, "per KiB {per_kib}");
        assert!(
            (per_work.floor_int() - 9).abs() <= 1,
            "per work unit {per_work}"
        );
    }
}
