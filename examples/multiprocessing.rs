//! Process pools: the `job` that sleeps from the Python lox docs, serial
//! versus `#[lox::process(2)]`, then a CPU-bound job on every core.
//!
//! Worker processes are this same executable, started again with a marker
//! argument; `lox::init()` at the top of `main` makes them serve jobs.
//!
//! `cargo run --release --example multiprocessing`

use std::time::{Duration, Instant};

// ANCHOR: job
#[lox::process(2)] // two worker processes
fn job(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(200));
    x * 10
}
// ANCHOR_END: job

// ANCHOR: cpu
/// Count the primes below `n`, the slow way: pure CPU work.
fn count_primes(n: u64) -> u64 {
    (2..n)
        .filter(|&k| (2..).take_while(|d| d * d <= k).all(|d| k % d != 0))
        .count() as u64
}

#[lox::process] // one worker process per core
fn count_primes_parallel(n: u64) -> u64 {
    count_primes(n)
}
// ANCHOR_END: cpu

// ANCHOR: init
fn main() {
    // First line: in a worker process, this serves jobs and exits.
    lox::init();
    // ANCHOR_END: init

    // ANCHOR: sleepy
    let start = Instant::now();
    let serial: Vec<u64> = (0..4).map(job).collect();
    let serial_time = start.elapsed();

    let start = Instant::now();
    for x in 0..4 {
        job::scatter(x);
    }
    let parallel = job::gather();
    let parallel_time = start.elapsed();
    assert_eq!(serial, parallel);
    println!(
        "4 jobs sleeping 200 ms: serial {:.0} ms, #[lox::process(2)] {:.0} ms",
        serial_time.as_secs_f64() * 1e3,
        parallel_time.as_secs_f64() * 1e3
    );
    // ANCHOR_END: sleepy

    // ANCHOR: cores
    let inputs = vec![400_000u64; 8];
    let start = Instant::now();
    let serial: Vec<u64> = inputs.iter().map(|&n| count_primes(n)).collect();
    let serial_time = start.elapsed();

    let start = Instant::now();
    for &n in &inputs {
        count_primes_parallel::scatter(n);
    }
    let parallel = count_primes_parallel::gather();
    let parallel_time = start.elapsed();
    assert_eq!(serial, parallel);
    println!(
        "8 prime counts: serial {:.0} ms, #[lox::process] on {} workers {:.0} ms ({:.1}x)",
        serial_time.as_secs_f64() * 1e3,
        count_primes_parallel::pool().n_workers(),
        parallel_time.as_secs_f64() * 1e3,
        serial_time.as_secs_f64() / parallel_time.as_secs_f64()
    );
    // ANCHOR_END: cores

    // ANCHOR: crash
    let fragile = lox::process(1, |x: i32| {
        if x == 2 {
            std::process::abort(); // the worker process dies mid-job
        }
        x
    });
    for x in 1..=3 {
        fragile.scatter(x);
    }
    for (seq, outcome) in fragile.try_gather().into_iter().enumerate() {
        println!("job {seq}: {outcome:?}"); // job 1 reports WorkerDied; 0 and 2 complete
    }
    // ANCHOR_END: crash
}
