//! A million pending scatters of u64 jobs stay under 64 MB of peak RSS.
//! Its own test binary: it resets and reads this process's peak RSS (Linux).

use std::sync::{Arc, Barrier};

mod common;

use common::status_kb;

#[test]
fn a_million_pending_u64_scatters_stay_under_64_mb() {
    const JOBS: u64 = 1_000_000;
    // Hold the only worker on its first job, so every other job stays pending.
    let gate = Arc::new(Barrier::new(2));
    let g2 = gate.clone();
    let pool = lox::thread(1, move |x: u64| {
        if x == 0 {
            g2.wait();
        }
        x.wrapping_mul(3)
    });
    pool.scatter(0);
    // Reset the peak (writing 5 to clear_refs) and take the baseline.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let base = status_kb("VmRSS:");
    for i in 1..JOBS {
        pool.scatter(i);
    }
    assert_eq!(
        pool.len(),
        JOBS as usize - 1,
        "all but the first are pending"
    );
    let pending_peak = status_kb("VmHWM:");
    gate.wait();
    let out = pool.gather();
    let peak = status_kb("VmHWM:");
    assert_eq!(out.len(), JOBS as usize);
    assert!(out
        .iter()
        .enumerate()
        .all(|(i, &r)| r == (i as u64).wrapping_mul(3)));
    let mb = |kb: u64| kb.saturating_sub(base) as f64 / 1024.0;
    println!(
        "1M pending u64 scatters: +{:.1} MB while pending, +{:.1} MB peak through gather (peak reset: {reset})",
        mb(pending_peak),
        mb(peak)
    );
    assert!(mb(peak) < 64.0, "peak RSS grew by {:.1} MB", mb(peak));
}
