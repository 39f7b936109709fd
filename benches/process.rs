//! Process pools: per-job overhead for trivial jobs, and 200 jobs of ~1 ms of
//! CPU work on 2 worker processes against serial (`process`, and
//! `process_with` whose workers own a state).
//!
//! Also the round trip of a shared lock: acquire+release, inside a worker, of
//! a `lox::Lock` / `IndexSemaphore` whose broker is in the parent, beside the
//! same on a lock of the worker's own.
//!
//! With `LOX_BENCH_SLURM=1` (and a Slurm cluster that `srun` reaches, e.g.
//! `SLURM_CONF` from `.ci/slurm.sh up DIR`), also the same trivial jobs on
//! workers started by `Launcher::slurm()`, and the time from `process(..)`
//! to the first result, local and through srun; skipped (and said so)
//! otherwise.
//!
//! `cargo bench --bench process`. The bench binary is also the worker, so
//! `main` calls `lox::init()` first.
//! Python lox's figures for the same workload: `benches/python/process_bench.py`.

use std::hint::black_box;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};

fn trivial(x: u64) -> u64 {
    x.wrapping_add(1)
}

/// `iters` rounds of integer mixing: pure CPU, deterministic, no allocation.
fn spin((seed, iters): (u64, u64)) -> u64 {
    let mut x = seed | 1;
    for _ in 0..iters {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    black_box(x)
}

/// A worker state for `process_with`: the jobs this worker has run.
fn tally(_index: usize) -> u64 {
    0
}

/// [`spin`] on a worker that owns a state.
fn spin_with(ran: &mut u64, job: (u64, u64)) -> u64 {
    *ran += 1;
    spin(job)
}

/// Iterations that take about 1 ms here (measured once, in the parent; the
/// workers receive the count as the argument).
fn iters_per_ms() -> u64 {
    static ITERS: OnceLock<u64> = OnceLock::new();
    *ITERS.get_or_init(|| {
        // The fastest of several runs: the machine may be busy.
        let n = 200_000;
        let best = (0..10)
            .map(|s| {
                let t = Instant::now();
                spin((s, n));
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        (1e-3 * n as f64 / best) as u64
    })
}

/// The Slurm cases run: `LOX_BENCH_SLURM` is set to a true-like value.
fn slurm_wanted() -> bool {
    std::env::var("LOX_BENCH_SLURM").is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes" | "on"))
}

/// Where the workers run: `(name, launcher)`; srun only when asked for.
fn launchers() -> Vec<(&'static str, lox::Launcher)> {
    let mut v = vec![("trivial_jobs", lox::Launcher::local())];
    if slurm_wanted() {
        v.push(("trivial_jobs_srun", lox::Launcher::slurm()));
    } else {
        println!(
            "process_overhead/trivial_jobs_srun: skipped (set LOX_BENCH_SLURM=1 with a cluster up)"
        );
    }
    v
}

fn overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("process_overhead");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for ((name, launcher), workers) in launchers()
        .into_iter()
        .flat_map(|l| [1usize, 2].map(|w| (l.clone(), w)))
    {
        let pool = lox::process(workers, trivial).with_launcher(launcher);
        pool.scatter(0);
        pool.gather(); // workers up before measuring
        let jobs = 2000u64;
        g.throughput(Throughput::Elements(jobs));
        g.bench_with_input(BenchmarkId::new(name, workers), &jobs, |b, &jobs| {
            b.iter(|| {
                for i in 0..jobs {
                    pool.scatter(i);
                }
                pool.gather()
            })
        });
    }
    g.finish();
}

fn cpu_bound(c: &mut Criterion) {
    let iters = iters_per_ms();
    let mut g = c.benchmark_group("process_200x1ms");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(7));
    g.throughput(Throughput::Elements(200));
    g.bench_function("serial", |b| {
        b.iter(|| (0..200u64).map(|s| spin((s, iters))).collect::<Vec<_>>())
    });
    let pool = lox::process(2, spin);
    pool.scatter((0, 1));
    pool.scatter((1, 1));
    pool.gather();
    g.bench_function("lox_process_2", |b| {
        b.iter(|| {
            for s in 0..200u64 {
                pool.scatter((s, iters));
            }
            pool.gather()
        })
    });
    let stateful = lox::process_with(2, tally, spin_with);
    stateful.scatter((0, 1));
    stateful.scatter((1, 1));
    stateful.gather();
    g.bench_function("lox_process_with_2", |b| {
        b.iter(|| {
            for s in 0..200u64 {
                stateful.scatter((s, iters));
            }
            stateful.gather()
        })
    });
    drop(stateful);
    let threads = lox::thread(2, spin);
    g.bench_function("lox_thread_2", |b| {
        b.iter(|| {
            for s in 0..200u64 {
                threads.scatter((s, iters));
            }
            threads.gather()
        })
    });
    g.finish();
}

/// `n` uncontended acquire+release of `lock` in this (worker) process; the
/// time they took, in ns (the clock runs inside the worker).
fn lock_loop((lock, n): (lox::Lock, u64)) -> u64 {
    let t = Instant::now();
    for _ in 0..n {
        drop(black_box(lock.acquire()));
    }
    t.elapsed().as_nanos() as u64
}

fn semaphore_loop((sem, n): (lox::IndexSemaphore, u64)) -> u64 {
    let t = Instant::now();
    for _ in 0..n {
        drop(black_box(sem.acquire()));
    }
    t.elapsed().as_nanos() as u64
}

/// The same on a lock made in the worker: no round trip.
fn local_lock_loop(n: u64) -> u64 {
    let lock = lox::Lock::new(());
    let t = Instant::now();
    for _ in 0..n {
        drop(black_box(lock.acquire()));
    }
    t.elapsed().as_nanos() as u64
}

fn shared_lock(c: &mut Criterion) {
    let mut g = c.benchmark_group("shared_lock_round_trip");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let lock = lox::Lock::new(());
    let pool = lox::process(1, lock_loop);
    pool.scatter((lock.clone(), 10));
    pool.gather();
    g.bench_function("lox::Lock_from_worker", |b| {
        b.iter_custom(|iters| {
            pool.scatter((lock.clone(), iters));
            Duration::from_nanos(pool.gather()[0])
        })
    });
    let sem = lox::IndexSemaphore::new(2);
    let pool = lox::process(1, semaphore_loop);
    pool.scatter((sem.clone(), 10));
    pool.gather();
    g.bench_function("lox::IndexSemaphore_from_worker", |b| {
        b.iter_custom(|iters| {
            pool.scatter((sem.clone(), iters));
            Duration::from_nanos(pool.gather()[0])
        })
    });
    let pool = lox::process(1, local_lock_loop);
    pool.scatter(10);
    pool.gather();
    g.bench_function("worker_local_lox::Lock", |b| {
        b.iter_custom(|iters| {
            pool.scatter(iters);
            Duration::from_nanos(pool.gather()[0])
        })
    });
    g.finish();
}

/// From `process(..)` to the first result: a worker started, its handshake,
/// one trivial job.
fn first_result(c: &mut Criterion) {
    let mut g = c.benchmark_group("first_result");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, launcher) in launchers() {
        let name = name.replace("trivial_jobs", "process_to_first_result");
        g.bench_function(name, |b| {
            b.iter(|| {
                let pool = lox::process(1, trivial).with_launcher(launcher.clone());
                pool.scatter(1);
                pool.gather()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, overhead, first_result, cpu_bound, shared_lock);

fn main() {
    lox::init(); // a worker serves jobs here and exits
    benches();
    Criterion::default().configure_from_args().final_summary();
}
