//! Worker actors (issue 13): jobs that need a costly setup (a model to load,
//! a connection to open), simulated by a 50 ms sleep that then builds a
//! lookup table, on 4 workers.
//!
//! - `thread_with`: the setup runs once per worker, in `init`; 1,000 jobs.
//! - plain `thread` pool doing the setup in every job: 1,000 x 50 ms / 4 =
//!   12.5 s, too long to repeat, so it runs 40 jobs and the figure is given
//!   per job and extrapolated to 1,000.
//! - the same two with a 1 ms setup, 1,000 jobs each way; and `thread_with`
//!   with no sleep (the table only: the pool's own cost).
//!
//! Times run from making the pool to the last result gathered (so the
//! `thread_with` figure includes its 4 inits, run in parallel), repeated and
//! interleaved; the minimum and median are printed. A plain program, not a
//! criterion bench: one measurement takes up to half a second.
//! `benches/python/worker_init_mpire.py` is the same work on mpire's
//! `worker_init` + `worker_state`.
//!
//! `cargo bench --bench worker_init` (`-- 3` for 3 rounds)

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WORKERS: usize = 4;
const TABLE: usize = 4096;

/// How many times `init` ran in each `thread_with` run, read when the gather
/// returns: at most once per worker (fewer when the jobs were all done before
/// the last worker thread had started, as with the 1 ms setup).
static INITS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// The costly setup: `ms` of waiting (a sleep, so that four of them run in
/// parallel on a 2-core machine as they would on 4 cores), then a table.
fn setup(ms: u64) -> Vec<u64> {
    std::thread::sleep(Duration::from_millis(ms));
    (0..TABLE as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .collect()
}

/// The job proper: a few lookups in the table.
fn job(table: &[u64], x: u64) -> u64 {
    (0..16).fold(x, |acc, k| {
        acc ^ table[(black_box(x) as usize).wrapping_mul(31).wrapping_add(k) % TABLE]
    })
}

fn with_state(ms: u64, jobs: u64) -> Duration {
    let inits = Arc::new(AtomicUsize::new(0));
    let counter = inits.clone();
    let t = Instant::now();
    let pool = lox::thread_with(
        WORKERS,
        move |_worker| {
            counter.fetch_add(1, Ordering::Relaxed);
            setup(ms)
        },
        |table: &mut Vec<u64>, x: u64| job(table, x),
    );
    for i in 0..jobs {
        pool.scatter(i);
    }
    let out = pool.gather();
    let took = t.elapsed();
    assert_eq!(out.len(), jobs as usize);
    let inits = inits.load(Ordering::Relaxed);
    assert!(inits <= WORKERS, "{inits} inits for {WORKERS} workers");
    INITS.lock().unwrap().push(inits);
    took
}

fn per_job(ms: u64, jobs: u64) -> Duration {
    let t = Instant::now();
    let pool = lox::thread(WORKERS, move |x: u64| job(&setup(ms), x));
    for i in 0..jobs {
        pool.scatter(i);
    }
    let out = pool.gather();
    let took = t.elapsed();
    assert_eq!(out.len(), jobs as usize);
    took
}

struct Series {
    name: String,
    jobs: u64,
    times: Vec<Duration>,
}

impl Series {
    fn new(name: &str, jobs: u64) -> Self {
        Series {
            name: name.into(),
            jobs,
            times: Vec::new(),
        }
    }

    fn report(&mut self, extrapolate_to: u64) -> f64 {
        self.times.sort();
        let min = self.times[0];
        let med = self.times[self.times.len() / 2];
        let per_job = med.as_secs_f64() / self.jobs as f64;
        println!(
            "{:<36} {:>5} jobs: min {:>9.1} ms, median {:>9.1} ms, {:>9.1} us/job (median); \
             {} jobs: {:.1} ms",
            self.name,
            self.jobs,
            min.as_secs_f64() * 1e3,
            med.as_secs_f64() * 1e3,
            per_job * 1e6,
            extrapolate_to,
            per_job * extrapolate_to as f64 * 1e3,
        );
        med.as_secs_f64()
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5);
    println!(
        "{WORKERS} workers, {rounds} rounds; load average at start: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut w50 = Series::new("thread_with, 50 ms setup", 1_000);
    let mut p50 = Series::new("thread, 50 ms setup per job", 40);
    let mut w1 = Series::new("thread_with, 1 ms setup", 1_000);
    let mut p1 = Series::new("thread, 1 ms setup per job", 1_000);
    let mut w0 = Series::new("thread_with, no sleep (table only)", 1_000);
    for _ in 0..rounds {
        w50.times.push(with_state(50, w50.jobs));
        p50.times.push(per_job(50, p50.jobs));
        w1.times.push(with_state(1, w1.jobs));
        p1.times.push(per_job(1, p1.jobs));
        w0.times.push(with_state(0, w0.jobs));
    }
    let a = w50.report(1_000);
    let b = p50.report(1_000) / p50.jobs as f64 * 1_000.0;
    println!("  -> per-job setup is {:.0}x slower on 1,000 jobs", b / a);
    let a = w1.report(1_000);
    let b = p1.report(1_000);
    println!("  -> per-job setup is {:.0}x slower on 1,000 jobs", b / a);
    w0.report(1_000);
    println!("inits per thread_with run: {:?}", INITS.lock().unwrap());
    println!(
        "load average at end: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
