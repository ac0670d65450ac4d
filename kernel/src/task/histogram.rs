//! A fixed-size log-linear histogram for cycle counts and latencies.
//!
//! Values are grouped by their highest set bit, with [`SUB_BUCKETS`] linear
//! steps inside each power of two, so a reported quantile is within 25% of
//! the true value over the whole `u64` range, in 2 KiB and without allocation.

/// Linear steps per power of two.
const SUB_BUCKETS: usize = 4;
/// log2 of [`SUB_BUCKETS`].
const SUB_BUCKET_BITS: u32 = 2;
/// Buckets needed to cover every `u64`.
const BUCKETS: usize = 64 * SUB_BUCKETS;

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
        self.total += 1;
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

    /// Returns the value at `percent` (0..=100): the lower bound of the
    /// bucket holding that rank, capped by the maximum; 0 when empty.
    pub fn percentile(&self, percent: u64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = (self.total * percent.min(100)).div_ceil(100).max(1);
        let mut seen = 0u64;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen += u64::from(*count);
            if seen >= rank {
                return Self::lower_bound(bucket).min(self.max);
            }
        }
        self.max
    }

    /// Adds every value counted by `other`.
    pub fn merge(&mut self, other: &Self) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine = mine.saturating_add(*theirs);
        }
        self.total += other.total;
        self.sum = self.sum.saturating_add(other.sum);
        self.max = self.max.max(other.max);
    }

    /// Forgets every value.
    pub fn clear(&mut self) {
        *self = Self::new();
    }
}
