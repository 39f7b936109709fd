//! lox's lock brokers against std and parking_lot: uncontended
//! acquire+release, and contended throughput with 2 and 8 threads.
//!
//! `cargo bench --bench sync` (about a minute and a half).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

fn uncontended(c: &mut Criterion) {
    let mut g = c.benchmark_group("uncontended");
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(1));

    let lox_lock = lox::Lock::new(0u64);
    g.bench_function("lox::Lock", |b| b.iter(|| *lox_lock.acquire() += 1));
    let lox_q = lox::QLock::new(0u64);
    g.bench_function("lox::QLock", |b| b.iter(|| *lox_q.acquire() += 1));
    let pl = parking_lot::Mutex::new(0u64);
    g.bench_function("parking_lot::Mutex", |b| b.iter(|| *pl.lock() += 1));
    let std_m = std::sync::Mutex::new(0u64);
    g.bench_function("std::Mutex", |b| b.iter(|| *std_m.lock().unwrap() += 1));

    let lox_rw = lox::RWLock::new(0u64);
    g.bench_function("lox::RWLock read", |b| b.iter(|| black_box(*lox_rw.read())));
    let pl_rw = parking_lot::RwLock::new(0u64);
    g.bench_function("parking_lot::RwLock read", |b| {
        b.iter(|| black_box(*pl_rw.read()))
    });
    let std_rw = std::sync::RwLock::new(0u64);
    g.bench_function("std::RwLock read", |b| {
        b.iter(|| black_box(*std_rw.read().unwrap()))
    });
    g.bench_function("lox::RWLock write", |b| b.iter(|| *lox_rw.write() += 1));
    g.bench_function("parking_lot::RwLock write", |b| {
        b.iter(|| *pl_rw.write() += 1)
    });

    let sem = lox::IndexSemaphore::new(4);
    g.bench_function("lox::IndexSemaphore", |b| {
        b.iter(|| black_box(sem.acquire().index()))
    });
    let sw = lox::LightSwitch::new(lox::Lock::new(()));
    let _inside = sw.acquire(); // the light is on: entering is the common case
    g.bench_function("lox::LightSwitch (light on)", |b| {
        b.iter(|| black_box(sw.acquire()))
    });
    g.finish();
}

/// Time `per_thread` locked increments on each of `threads` threads.
fn run<L: Send + Sync + 'static>(
    threads: usize,
    per_thread: u64,
    lock: &Arc<L>,
    op: fn(&L, u64),
) -> Duration {
    let start = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (lock, start) = (lock.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for i in 0..per_thread {
                    op(&lock, i);
                }
            })
        })
        .collect();
    start.wait();
    let t0 = Instant::now();
    for h in handles {
        h.join().unwrap();
    }
    t0.elapsed()
}

fn contended(c: &mut Criterion) {
    const OPS: u64 = 2_000; // per thread and iteration
    let mut g = c.benchmark_group("contended");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for threads in [2usize, 8] {
        g.throughput(criterion::Throughput::Elements(OPS * threads as u64));
        let lox_lock = Arc::new(lox::Lock::new(0u64));
        g.bench_with_input(BenchmarkId::new("lox::Lock", threads), &threads, |b, &t| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| run(t, OPS, &lox_lock, |l, _| *l.acquire() += 1))
                    .sum()
            })
        });
        let pl = Arc::new(parking_lot::Mutex::new(0u64));
        g.bench_with_input(
            BenchmarkId::new("parking_lot::Mutex", threads),
            &threads,
            |b, &t| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| run(t, OPS, &pl, |l, _| *l.lock() += 1))
                        .sum()
                })
            },
        );
        let std_m = Arc::new(std::sync::Mutex::new(0u64));
        g.bench_with_input(
            BenchmarkId::new("std::Mutex", threads),
            &threads,
            |b, &t| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| run(t, OPS, &std_m, |l, _| *l.lock().unwrap() += 1))
                        .sum()
                })
            },
        );
        // 1 write in 8 operations.
        fn lox_mixed(l: &lox::RWLock<u64>, i: u64) {
            if i % 8 == 0 {
                *l.write() += 1;
            } else {
                black_box(*l.read());
            }
        }
        fn pl_mixed(l: &parking_lot::RwLock<u64>, i: u64) {
            if i % 8 == 0 {
                *l.write() += 1;
            } else {
                black_box(*l.read());
            }
        }
        let lox_rw = Arc::new(lox::RWLock::new(0u64));
        g.bench_with_input(
            BenchmarkId::new("lox::RWLock read-mostly", threads),
            &threads,
            |b, &t| {
                b.iter_custom(|iters| (0..iters).map(|_| run(t, OPS, &lox_rw, lox_mixed)).sum())
            },
        );
        let pl_rw = Arc::new(parking_lot::RwLock::new(0u64));
        g.bench_with_input(
            BenchmarkId::new("parking_lot::RwLock read-mostly", threads),
            &threads,
            |b, &t| b.iter_custom(|iters| (0..iters).map(|_| run(t, OPS, &pl_rw, pl_mixed)).sum()),
        );
    }
    g.finish();
}

criterion_group!(benches, uncontended, contended);
criterion_main!(benches);
