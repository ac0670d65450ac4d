//! A fixed-size log-linear histogram for cycle counts and latencies.
//!
//! Values are grouped by their highest set bit, with [`SUB_BUCKETS`] linear
//! steps inside each power of two, so a reported quantile is within 25% of
//! the true value over the whole `u64` range, in about 1 KiB and without allocation.
//! Bucket counts saturate at `u32::MAX`; the total, the sum and the ranks are
//! computed so that no number of values overflows them.

/// Linear steps per power of two.
pub const SUB_BUCKETS: usize = 4;
/// log2 of [`SUB_BUCKETS`].
const SUB_BUCKET_BITS: u32 = 2;
/// Buckets needed to cover every `u64`: [`SUB_BUCKETS`] exact ones below
/// [`SUB_BUCKETS`], then [`SUB_BUCKETS`] per power of two from there up to 2^63.
pub const BUCKETS: usize = (u64::BITS - SUB_BUCKET_BITS + 1) as usize * SUB_BUCKETS;
/// The highest percentile: [`Histogram::percentile`] reads larger ones as this.
pub const PERCENT_MAX: u64 = 100;

/// Counts of values by magnitude.
#[derive(Clone)]
pub struct Histogram {
    counts: [u32; BUCKETS],
    total: u64,
    sum: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    /// Returns an empty histogram.
    pub const fn new() -> Self {
        Self {
            counts: [0; BUCKETS],
            total: 0,
            sum: 0,
            max: 0,
        }
    }

    /// Returns the bucket `value` falls into.
    fn bucket_of(value: u64) -> usize {
        if value < SUB_BUCKETS as u64 {
            return value as usize;
        }
        let high_bit = 63 - value.leading_zeros();
        let sub = (value >> (high_bit - SUB_BUCKET_BITS)) as usize & (SUB_BUCKETS - 1);
        (high_bit - SUB_BUCKET_BITS + 1) as usize * SUB_BUCKETS + sub
    }

    /// Returns the smallest value that falls into `bucket`.
    fn lower_bound(bucket: usize) -> u64 {
        if bucket < SUB_BUCKETS {
            return bucket as u64;
        }
        let high_bit = (bucket / SUB_BUCKETS) as u32 + SUB_BUCKET_BITS - 1;
        let sub = (bucket % SUB_BUCKETS) as u64;
        (1u64 << high_bit) | (sub << (high_bit - SUB_BUCKET_BITS))
    }

    /// Counts `value`.
    pub fn record(&mut self, value: u64) {
        let bucket = Self::bucket_of(value);
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
        self.total = self.total.saturating_add(1);
        self.sum = self.sum.saturating_add(value);
        self.max = self.max.max(value);
    }

    /// Returns how many values were counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Returns the mean, or 0 when empty.
    pub fn mean(&self) -> u64 {
        self.sum.checked_div(self.total).unwrap_or(0)
    }

    /// Returns the largest value counted.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// Returns the value at `percent` (0..=100, larger reads as 100): the lower
    /// bound of the bucket holding that rank, capped by the maximum; 0 when empty.
    pub fn percentile(&self, percent: u64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = Self::rank(self.total, percent);
        let mut seen = 0u64;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= rank {
                return Self::lower_bound(bucket).min(self.max);
            }
        }
        self.max
    }

    /// Returns the rank (1-based) of the value at `percent` among `total` values,
    /// computed in 128 bits so that no count overflows it.
    fn rank(total: u64, percent: u64) -> u64 {
        let rank = (u128::from(total) * u128::from(percent.min(PERCENT_MAX)))
            .div_ceil(u128::from(PERCENT_MAX));
        u64::try_from(rank).unwrap_or(u64::MAX).max(1)
    }

    /// Adds every value counted by `other`.
    pub fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
        self.total = self.total.saturating_add(other.total);
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns a deterministic stream of values spread over every magnitude.
    fn spread_values(count: usize) -> impl Iterator<Item = u64> {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        (0..count).map(move |_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            state >> (state % 64)
        })
    }

    #[test]
    fn an_empty_histogram_reports_zeros() {
        let histogram = Histogram::new();
        assert_eq!(histogram.count(), 0);
        assert_eq!(histogram.mean(), 0);
        assert_eq!(histogram.max(), 0);
        assert_eq!(histogram.percentile(0), 0);
        assert_eq!(histogram.percentile(50), 0);
        assert_eq!(histogram.percentile(100), 0);
    }

    #[test]
    fn small_values_are_exact() {
        for value in 0..SUB_BUCKETS as u64 {
            assert_eq!(Histogram::bucket_of(value), value as usize);
            assert_eq!(Histogram::lower_bound(value as usize), value);
        }
    }

    #[test]
    fn every_bucket_starts_at_its_lower_bound() {
        let mut previous = None;
        for bucket in 0..BUCKETS {
            let lower = Histogram::lower_bound(bucket);
            assert_eq!(Histogram::bucket_of(lower), bucket, "bucket {bucket}");
            if let Some(previous) = previous {
                assert!(lower > previous, "bounds rise: bucket {bucket}");
                assert_eq!(Histogram::bucket_of(lower - 1), bucket - 1);
            }
            previous = Some(lower);
        }
        assert_eq!(Histogram::bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn a_bucket_lower_bound_is_within_a_quarter_of_the_value() {
        for value in spread_values(10_000).chain([4, 5, 7, 8, 1 << 63, u64::MAX]) {
            let lower = Histogram::lower_bound(Histogram::bucket_of(value));
            assert!(lower <= value, "{lower} > {value}");
            assert!(
                u128::from(value - lower) * 4 < u128::from(value.max(1)) || value == lower,
                "{value} is more than 25% above its bucket bound {lower}"
            );
        }
    }

    #[test]
    fn count_mean_and_max_follow_the_values() {
        let mut histogram = Histogram::new();
        for value in [10, 20, 30, 40] {
            histogram.record(value);
        }
        assert_eq!(histogram.count(), 4);
        assert_eq!(histogram.mean(), 25);
        assert_eq!(histogram.max(), 40);
    }

    #[test]
    fn percentiles_pick_the_bucket_of_the_rank() {
        let mut histogram = Histogram::new();
        for value in 1..=100 {
            histogram.record(value);
        }
        // Rank 50 is the value 50, whose bucket starts at 48 (32 + 2 * 8).
        assert_eq!(histogram.percentile(50), 48);
        // Rank 1 is the value 1, exact.
        assert_eq!(histogram.percentile(0), 1);
        assert_eq!(histogram.percentile(1), 1);
        // The top bucket starts at 96; capped by the maximum it stays 96.
        assert_eq!(histogram.percentile(100), 96);
        assert_eq!(histogram.percentile(1_000), histogram.percentile(100));
        assert_eq!(histogram.percentile(u64::MAX), histogram.percentile(100));
    }

    #[test]
    fn a_percentile_never_exceeds_the_maximum() {
        let mut histogram = Histogram::new();
        histogram.record(1_000_001);
        // The bucket of 1_000_001 starts below it; the maximum caps nothing here...
        assert!(histogram.percentile(100) <= 1_000_001);
        // ...but one value at a bucket's lower bound is reported exactly.
        let mut exact = Histogram::new();
        exact.record(1 << 40);
        assert_eq!(exact.percentile(50), 1 << 40);
    }

    #[test]
    fn the_sum_saturates_instead_of_overflowing() {
        let mut histogram = Histogram::new();
        histogram.record(u64::MAX);
        histogram.record(u64::MAX);
        assert_eq!(histogram.count(), 2);
        assert_eq!(histogram.max(), u64::MAX);
        assert_eq!(histogram.mean(), u64::MAX / 2);
        assert_eq!(
            histogram.percentile(100),
            Histogram::lower_bound(BUCKETS - 1)
        );
    }

    #[test]
    fn huge_counts_neither_overflow_nor_lose_the_percentile() {
        let mut histogram = Histogram::new();
        histogram.record(5);
        // Doubling by merging with itself: bucket counts saturate at u32::MAX
        // while the total keeps growing, and ranks above the saturated count
        // must still be answered (by the maximum).
        for _ in 0..70 {
            let copy = histogram.clone();
            histogram.merge(&copy);
        }
        assert_eq!(histogram.count(), u64::MAX);
        assert_eq!(histogram.percentile(100), 5);
        assert_eq!(histogram.percentile(1), 5);
        assert_eq!(histogram.max(), 5);
    }

    #[test]
    fn merge_adds_and_clear_forgets() {
        let mut left = Histogram::new();
        let mut right = Histogram::new();
        left.record(1);
        right.record(3);
        right.record(1_000);
        left.merge(&right);
        assert_eq!(left.count(), 3);
        assert_eq!(left.max(), 1_000);
        assert_eq!(left.mean(), 334);
        assert_eq!(left.percentile(0), 1);
        assert_eq!(left.percentile(50), 3);
        left.clear();
        assert_eq!(left.count(), 0);
        assert_eq!(left.percentile(99), 0);
        assert_eq!(Histogram::default().count(), 0);
    }

    #[test]
    fn percentiles_rise_with_the_percent() {
        let mut histogram = Histogram::new();
        for value in spread_values(5_000) {
            histogram.record(value);
        }
        let mut previous = 0;
        for percent in 0..=PERCENT_MAX {
            let value = histogram.percentile(percent);
            assert!(value >= previous, "p{percent} = {value} < {previous}");
            previous = value;
        }
        assert!(previous <= histogram.max());
    }
}
