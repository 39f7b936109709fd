//! The GPU pool of the Python lox docs, with process workers: the parent owns
//! an `IndexSemaphore` of 2 GPUs and a `Lock` for the terminal, and passes
//! both to every job. Inside a worker process, `acquire` on those handles is
//! granted by the one broker in the parent, so no two jobs, whatever process
//! they run in, ever hold the same GPU at once.
//!
//! `cargo run --release --example gpu_processes`

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

const N_GPUS: usize = 2;

// ANCHOR: run
/// What one job reports: which batch ran on which GPU, in which process, when.
#[derive(serde::Serialize, serde::Deserialize)]
struct Run {
    batch: u32,
    gpu: usize,
    pid: u32,
    start: SystemTime,
    end: SystemTime,
}
// ANCHOR_END: run

// ANCHOR: job
/// Runs in a worker process. `gpus` and `print` are handles to the parent's
/// semaphore and lock: every acquire is granted by the parent.
fn job((gpus, print, batch): (lox::IndexSemaphore, lox::Lock, u32)) -> Run {
    let gpu = gpus.acquire(); // blocks while both GPUs are taken, in any process
    let start = SystemTime::now();
    std::thread::sleep(Duration::from_millis(20)); // "run the model on GPU `index`"
    let end = SystemTime::now();
    let index = gpu.index();
    drop(gpu); // the GPU goes back to the pool (the parent hands it on)

    let pid = std::process::id();
    {
        let _terminal = print.acquire(); // one worker prints at a time
        println!("batch {batch} on GPU {index} (pid {pid})");
    }
    Run {
        batch,
        gpu: index,
        pid,
        start,
        end,
    }
}
// ANCHOR_END: job

// ANCHOR: hosts_job
/// Reports which "host" the worker was started on, and the GPU it got.
fn on_host((gpus, batch): (lox::IndexSemaphore, u32)) -> (u32, String, usize) {
    let gpu = gpus.acquire();
    std::thread::sleep(Duration::from_millis(10));
    let host = std::env::var("LOX_HOST").unwrap_or_default();
    (batch, host, gpu.index())
}
// ANCHOR_END: hosts_job

// ANCHOR: main
fn main() {
    // First line: in a worker process, this serves jobs and exits.
    lox::init();

    let gpus = lox::IndexSemaphore::new(N_GPUS); // lives in this, the parent, process
    let print = lox::Lock::new(());
    let pool = lox::process(4, job); // more workers than GPUs: some wait for one
    for batch in 0..12 {
        pool.scatter((gpus.clone(), print.clone(), batch)); // the handles travel in the job
    }
    let runs = pool.gather();

    for run in &runs {
        println!(
            "batch {:2} ran on GPU {} in process {}",
            run.batch, run.gpu, run.pid
        );
    }
    // ANCHOR_END: main

    // ANCHOR: checks
    let batches: Vec<u32> = runs.iter().map(|r| r.batch).collect();
    assert_eq!(
        batches,
        (0..12).collect::<Vec<u32>>(),
        "results in scatter order"
    );
    assert!(runs.iter().all(|r| r.gpu < N_GPUS));
    let pids: BTreeSet<u32> = runs.iter().map(|r| r.pid).collect();
    assert!(
        !pids.contains(&std::process::id()),
        "ran in worker processes"
    );
    assert!(pids.len() > 1, "more than one worker process: {pids:?}");

    // No GPU was held by two jobs at once: per GPU, the intervals are disjoint.
    let mut per_gpu: BTreeMap<usize, Vec<(SystemTime, SystemTime)>> = BTreeMap::new();
    for r in &runs {
        per_gpu.entry(r.gpu).or_default().push((r.start, r.end));
    }
    for (gpu, spans) in per_gpu.iter_mut() {
        spans.sort();
        for pair in spans.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "GPU {gpu} used by two jobs at once");
        }
    }
    assert_eq!(gpus.available(), N_GPUS, "every GPU is back");
    assert!(!print.is_locked());
    println!(
        "{} batches on {N_GPUS} GPUs in {} worker processes",
        runs.len(),
        pids.len()
    );
    // ANCHOR_END: checks

    // ANCHOR: hosts
    // One pool over two "hosts": worker i starts with launcher i % 2. `env`
    // stands in for `ssh node1` / `ssh node2` so that this runs anywhere.
    let spread = lox::process(4, on_host).with_launchers(vec![
        lox::Launcher::prefix("env", ["LOX_HOST=node1"]),
        lox::Launcher::prefix("env", ["LOX_HOST=node2"]),
    ]);
    for batch in 0..8 {
        spread.scatter((gpus.clone(), batch)); // the same 2 GPUs, shared by both hosts
    }
    let out = spread.gather();
    let hosts: BTreeSet<&str> = out.iter().map(|(_, host, _)| host.as_str()).collect();
    println!("8 batches on hosts {hosts:?}");
    assert_eq!(hosts, BTreeSet::from(["node1", "node2"]));
    assert_eq!(gpus.available(), N_GPUS);
    // ANCHOR_END: hosts
}
