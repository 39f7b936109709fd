//! The GPU pool of the Python lox docs, with worker actors: instead of an
//! `IndexSemaphore` that jobs take turns on, each worker process owns one
//! GPU for its whole life. `lox::process_with(2, bind, run_batch)` starts 2
//! workers; worker `i` runs `bind(i)` once, inside its own process, and every
//! job it runs gets that device as `&mut Gpu`. The worker index is stable (a
//! replacement for worker 1 is worker 1 again), so it can name the device.
//!
//! `cargo run --release --example gpu_workers`

use std::collections::BTreeMap;
use std::time::Duration;

// ANCHOR: device
/// One pretend GPU, bound by one worker process for its whole life. A real
/// program would open the device here (CUDA_VISIBLE_DEVICES, a context, a
/// model loaded onto it); none of it needs to be `Send` or serde.
struct Gpu {
    index: usize,
    pid: u32,
    batches: u32,
}

/// Runs once per worker process, inside it: `index` is the worker's index.
fn bind(index: usize) -> Gpu {
    std::thread::sleep(Duration::from_millis(50)); // "load the model onto GPU `index`"
    Gpu {
        index,
        pid: std::process::id(),
        batches: 0,
    }
}
// ANCHOR_END: device

// ANCHOR: job
/// What one job reports: its batch, the GPU that ran it, how many batches
/// that GPU had run by then, and the worker's process.
#[derive(serde::Serialize, serde::Deserialize)]
struct Run {
    batch: u32,
    gpu: usize,
    nth: u32,
    pid: u32,
}

/// Runs in a worker process, on the device that worker bound.
fn run_batch(gpu: &mut Gpu, batch: u32) -> Run {
    std::thread::sleep(Duration::from_millis(20)); // "run the model"
    gpu.batches += 1;
    Run {
        batch,
        gpu: gpu.index,
        nth: gpu.batches,
        pid: gpu.pid,
    }
}
// ANCHOR_END: job

fn main() {
    // First line: in a worker process, this serves jobs and exits.
    lox::init();

    // ANCHOR: pool
    let pool = lox::process_with(2, bind, run_batch);
    let runs: Vec<Run> = pool.map(0..12).collect(); // in batch order
    for run in &runs {
        println!(
            "batch {:2} ran on GPU {} (its batch {})",
            run.batch, run.gpu, run.nth
        );
    }
    // ANCHOR_END: pool

    // ANCHOR: checks
    // Each GPU counted its own batches: the counts run 1, 2, 3, ... per GPU,
    // and the two GPUs' counts add up to 12. The state lived across jobs.
    let mut per_gpu: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
    for r in &runs {
        per_gpu.entry(r.gpu).or_default().push(r.nth);
    }
    let mut total = 0;
    for counts in per_gpu.values_mut() {
        counts.sort();
        assert_eq!(*counts, (1..=counts.len() as u32).collect::<Vec<_>>());
        total += counts.len();
    }
    assert_eq!(total, 12);
    // One process per GPU, never the parent.
    for r in &runs {
        assert_ne!(r.pid, std::process::id());
    }
    let stats = pool.stats();
    assert_eq!(stats.done, 12);
    assert_eq!(stats.restarts, 0, "bind ran once per worker");
    println!(
        "12 batches, {} done, {} failed, {} restarts; jobs per worker add up to {}",
        stats.done,
        stats.failed,
        stats.restarts,
        stats.per_worker.iter().map(|w| w.jobs).sum::<u64>()
    );
    // ANCHOR_END: checks
}
