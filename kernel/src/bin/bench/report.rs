//! Exact percentiles of raw samples and the `BENCH` line format.

/// Sorts `samples` and prints `BENCH name=<name> p50 p99 mean min max n unit <extra>`.
pub fn print(name: &str, samples: &mut [u64], unit: &str, extra: &str) {
    samples.sort_unstable();
    let count = samples.len();
    if count == 0 {
        kernel::println!("BENCH name={name} n=0 unit={unit} {extra}");
        return;
    }
    let at = |percent: usize| samples[(count * percent).div_ceil(100).clamp(1, count) - 1];
    let mean = samples.iter().sum::<u64>() / count as u64;
    kernel::println!(
        "BENCH name={name} p50={} p99={} mean={mean} min={} max={} n={count} unit={unit} {extra}",
        at(50),
        at(99),
        samples[0],
        samples[count - 1],
    );
}

/// Prints the `BENCH` line of a kernel histogram (quantiles are bucket
/// lower bounds, within 25% of the true value; the mean is exact).
pub fn print_histogram(name: &str, histogram: &kernel::task::histogram::Histogram, extra: &str) {
    kernel::println!(
        "BENCH name={name} p50={} p99={} mean={} max={} n={} unit=cycles source=histogram {extra}",
        histogram.percentile(50),
        histogram.percentile(99),
        histogram.mean(),
        histogram.max(),
        histogram.count(),
    );
}
