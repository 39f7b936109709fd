//! `map` is lazy with a bounded window: mapping millions of u64 inputs on 4
//! workers, consumed by a fold, stays under 32 MB of peak RSS growth, and an
//! input twice as long needs no more memory. Its own test binary: it resets
//! and reads this process's peak RSS (Linux).
//!
//! The count here (2M then 4M) keeps the test fast in debug builds; the full
//! 10 million inputs of issue 12 are in `cargo bench --bench map_memory`.

mod common;

use common::status_kb;

/// Map `0..n` through `2x + 1` and fold it; returns (count, sum, peak RSS
/// growth in MB over the RSS at the start, whether the peak was reset).
fn map_and_fold(pool: &lox::Thread<u64, u64>, n: u64) -> (u64, u64, f64, bool) {
    // Reset the peak (writing 5 to clear_refs) and take the baseline.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let base = status_kb("VmRSS:");
    let (count, sum) = pool.map(0..n).fold((0u64, 0u64), |(count, sum), r| {
        // In input order: the i-th result is 2i + 1.
        assert_eq!(r, 2 * count + 1, "result {count} out of order");
        (count + 1, sum + r)
    });
    let peak = status_kb("VmHWM:");
    (count, sum, peak.saturating_sub(base) as f64 / 1024.0, reset)
}

#[test]
fn mapping_millions_of_u64_stays_under_32_mb_whatever_the_length() {
    const N: u64 = 2_000_000;
    let pool = lox::thread(4, |x: u64| 2 * x + 1);
    // Warm up the workers and the allocator, so neither run pays for them.
    assert_eq!(pool.map(0..10_000u64).count(), 10_000);

    let (count, sum, short, reset) = map_and_fold(&pool, N);
    assert_eq!(count, N);
    assert_eq!(sum, N * N, "sum of 2i + 1 over 0..n is n^2");

    let (count, sum, long, _) = map_and_fold(&pool, 2 * N);
    assert_eq!(count, 2 * N);
    assert_eq!(sum, 4 * N * N);

    println!(
        "map of {N} u64: +{short:.1} MB peak RSS; of {}: +{long:.1} MB (peak reset: {reset})",
        2 * N
    );
    assert!(short < 32.0, "{N} inputs: peak RSS grew by {short:.1} MB");
    assert!(
        long < 32.0,
        "{} inputs: peak RSS grew by {long:.1} MB",
        2 * N
    );
    if reset {
        // Twice the input, no more memory (2 MB of slack for the allocator's
        // and the kernel's page granularity).
        assert!(
            long <= short + 2.0,
            "twice the input needed more memory: +{short:.1} MB for {N}, +{long:.1} MB for {}",
            2 * N
        );
    }
}
