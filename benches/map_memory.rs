//! Peak RSS of a lazy `map` (issue 12): 10 million u64 inputs through a
//! trivial function on 4 workers, consumed by a fold, and the same at 5
//! million, in one run. Prints the growth of peak RSS (VmHWM, reset through
//! /proc/self/clear_refs before each run) over the RSS at the start of the
//! run, and asserts it stays under 32 MB with the 10M run needing no more
//! than the 5M one; then, as a control, 1M inputs with a window of 1M
//! (everything in flight). Linux only. `tests/memory_map.rs` asserts the
//! same on a count that runs fast in debug builds.
//!
//! `cargo bench --bench map_memory` (`-- 20000000` for another length)

use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;

use common::status_kb;

fn main() {
    // `cargo bench` passes `--bench`; a number is the long length.
    let long: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let pool = lox::thread(4, |x: u64| 2 * x + 1);
    assert_eq!(pool.map(0..10_000u64).count(), 10_000);

    let start_rss = status_kb("VmRSS:");
    let mut growth = Vec::new();
    for n in [long / 2, long] {
        let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
        let base = status_kb("VmRSS:");
        let t = Instant::now();
        let (count, sum) = pool.map(0..n).fold((0u64, 0u64), |(count, sum), r| {
            assert_eq!(r, 2 * count + 1, "result {count} out of order");
            (count + 1, sum.wrapping_add(r))
        });
        let took = t.elapsed();
        let peak = status_kb("VmHWM:");
        assert_eq!(count, n);
        assert_eq!(sum, n.wrapping_mul(n), "sum of 2i + 1 over 0..n is n^2");
        let mb = peak.saturating_sub(base) as f64 / 1024.0;
        println!(
            "map of {n:>11} u64 on 4 workers: peak RSS +{mb:5.1} MB (base {:.1} MB, peak {:.1} MB, \
             peak reset: {reset}), {:.0} ns/job, {:.2} s",
            base as f64 / 1024.0,
            peak as f64 / 1024.0,
            took.as_nanos() as f64 / n as f64,
            took.as_secs_f64()
        );
        growth.push(mb);
    }
    // Control (not asserted): the same map with no window to speak of, on a
    // tenth of the input, to show what the window saves.
    let n = long / 10;
    std::fs::write("/proc/self/clear_refs", "5").ok();
    let base = status_kb("VmRSS:");
    let count = pool.map(0..n).window(n as usize).count();
    assert_eq!(count as u64, n);
    println!(
        "control: map of {n:>11} u64 with window({n}): peak RSS +{:5.1} MB",
        status_kb("VmHWM:").saturating_sub(base) as f64 / 1024.0
    );
    println!(
        "RSS at start {:.1} MB; load average: {}",
        start_rss as f64 / 1024.0,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    assert!(
        growth.iter().all(|&mb| mb < 32.0),
        "peak RSS growth {growth:?} MB"
    );
    assert!(
        growth[1] <= growth[0] + 2.0,
        "twice the input needed more memory: {growth:?} MB"
    );
}
