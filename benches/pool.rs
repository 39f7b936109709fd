//! Thread pools side by side: lox against what a user would write instead.
//!
//! `cargo bench --bench pool`
//!
//! - `trivial/*`: 100k trivial jobs scattered then gathered in order on 4
//!   workers (per-job overhead = time / 100k).
//! - `sleep/*`: 200 jobs sleeping 10 ms on 50 workers (ideal: 40 ms).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const JOBS: u64 = 100_000;
const WORKERS: usize = 4;

#[inline]
fn work(x: u64) -> u64 {
    black_box(x).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn trivial(c: &mut Criterion) {
    let mut g = c.benchmark_group("trivial");
    g.throughput(Throughput::Elements(JOBS));
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(6));

    let lox_pool = lox::thread(WORKERS, work);
    g.bench_function(BenchmarkId::new("lox", JOBS), |b| {
        b.iter(|| {
            for i in 0..JOBS {
                lox_pool.scatter(i);
            }
            let out = lox_pool.gather();
            assert_eq!(out.len(), JOBS as usize);
            out
        })
    });

    let tp = threadpool::ThreadPool::new(WORKERS);
    g.bench_function(BenchmarkId::new("threadpool+channel", JOBS), |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::unbounded();
            for i in 0..JOBS {
                let tx = tx.clone();
                tp.execute(move || tx.send((i, work(i))).unwrap());
            }
            drop(tx);
            let mut out = vec![0u64; JOBS as usize];
            for (i, r) in rx.iter() {
                out[i as usize] = r;
            }
            out
        })
    });

    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(WORKERS)
        .build()
        .unwrap();
    g.bench_function(BenchmarkId::new("rayon-spawn+channel", JOBS), |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::unbounded();
            for i in 0..JOBS {
                let tx = tx.clone();
                rayon_pool.spawn(move || tx.send((i, work(i))).unwrap());
            }
            drop(tx);
            let mut out = vec![0u64; JOBS as usize];
            for (i, r) in rx.iter() {
                out[i as usize] = r;
            }
            out
        })
    });

    g.bench_function(BenchmarkId::new("std-thread-scope-chunks", JOBS), |b| {
        b.iter(|| {
            let chunk = JOBS.div_ceil(WORKERS as u64);
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..WORKERS as u64)
                    .map(|w| {
                        s.spawn(move || {
                            (w * chunk..((w + 1) * chunk).min(JOBS))
                                .map(work)
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .flat_map(|h| h.join().unwrap())
                    .collect::<Vec<_>>()
            })
        })
    });
    g.finish();
}

fn sleepy(c: &mut Criterion) {
    let mut g = c.benchmark_group("sleep");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(4));
    let nap = |i: u64| {
        std::thread::sleep(Duration::from_millis(10));
        i
    };

    let lox_pool = lox::thread(50, nap);
    g.bench_function("lox/200x10ms/50", |b| {
        b.iter(|| {
            for i in 0..200 {
                lox_pool.scatter(i);
            }
            lox_pool.gather()
        })
    });

    // The floor on this machine: each of the 50 workers sleeps 4 x 10 ms in a
    // row, and `thread::sleep` overshoots; no pool can beat one thread doing that.
    g.bench_function("floor-4-sleeps-in-a-row", |b| {
        b.iter(|| (0..4).map(nap).sum::<u64>())
    });

    let tp = threadpool::ThreadPool::new(50);
    g.bench_function("threadpool+channel/200x10ms/50", |b| {
        b.iter(|| {
            let (tx, rx) = crossbeam_channel::unbounded();
            for i in 0..200u64 {
                let tx = tx.clone();
                tp.execute(move || tx.send((i, nap(i))).unwrap());
            }
            drop(tx);
            let mut out = vec![0u64; 200];
            for (i, r) in rx.iter() {
                out[i as usize] = r;
            }
            out
        })
    });
    g.finish();
}

criterion_group!(benches, trivial, sleepy);
criterion_main!(benches);
