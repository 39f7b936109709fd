//! Jobs of one's own (issue 12), side by side with what a user would write
//! instead.
//!
//! `cargo bench --bench own_jobs -- --warm-up-time 1 --measurement-time 3`
//!
//! - `own_jobs/*`: 100k trivial jobs on 4 workers, results in input order
//!   (per-job overhead = time / 100k): lox `scatter`+`gather`, lox
//!   `map(0..100k).collect()` (default window, and a 16k window), lox
//!   `try_map`, lox `map_unordered`, lox `submit` x100k then `wait` each,
//!   rayon `par_iter().map().collect()`, threadpool + crossbeam channel per
//!   job (the baseline of `pool.rs`). Targets: `map` within 1.5x of
//!   `scatter`+`gather`; `submit` within 3x.
//! - `latency/{1,4}w/*`: one round trip on a warm pool: lox
//!   `submit(x).wait()`, lox `scatter(x); gather()`, threadpool + channel
//!   (execute one job, receive its result). Target: within 1.5x of
//!   threadpool + channel.
//!
//! Each pool lives only for its own benchmark, so no idle pool of one
//! benchmark steals cycles from the next.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rayon::prelude::*;

const JOBS: u64 = 100_000;
const WORKERS: usize = 4;

#[inline]
fn work(x: u64) -> u64 {
    black_box(x).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn check(out: &[u64]) {
    assert_eq!(out.len(), JOBS as usize);
    assert_eq!(out[JOBS as usize - 1], work(JOBS - 1));
}

fn throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("own_jobs");
    g.throughput(Throughput::Elements(JOBS));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    {
        let pool = lox::thread(WORKERS, work);
        g.bench_function(BenchmarkId::new("lox-scatter-gather", JOBS), |b| {
            b.iter(|| {
                for i in 0..JOBS {
                    pool.scatter(i);
                }
                let out = pool.gather();
                check(&out);
                out
            })
        });
    }

    {
        let pool = lox::thread(WORKERS, work);
        g.bench_function(BenchmarkId::new("lox-map", JOBS), |b| {
            b.iter(|| {
                let out: Vec<u64> = pool.map(0..JOBS).collect();
                check(&out);
                out
            })
        });
    }

    {
        // The same with a window 8 times the default (2 x 256 x 4 = 2048):
        // does the window limit the throughput?
        let pool = lox::thread(WORKERS, work);
        g.bench_function(BenchmarkId::new("lox-map-window-16k", JOBS), |b| {
            b.iter(|| {
                let out: Vec<u64> = pool.map(0..JOBS).window(16_384).collect();
                check(&out);
                out
            })
        });
    }

    {
        let pool = lox::thread(WORKERS, work);
        g.bench_function(BenchmarkId::new("lox-try_map", JOBS), |b| {
            b.iter(|| {
                let out: Vec<u64> = pool.try_map(0..JOBS).map(Result::unwrap).collect();
                check(&out);
                out
            })
        });
    }

    {
        let pool = lox::thread(WORKERS, work);
        g.bench_function(BenchmarkId::new("lox-map_unordered", JOBS), |b| {
            b.iter(|| {
                let n = pool
                    .map_unordered(0..JOBS)
                    .map(Result::unwrap)
                    .fold(0u64, |n, r| n + (r != 1) as u64);
                assert_eq!(n, JOBS);
                n
            })
        });
    }

    {
        let pool = lox::thread(WORKERS, work);
        g.bench_function(BenchmarkId::new("lox-submit-wait", JOBS), |b| {
            b.iter(|| {
                let jobs: Vec<_> = (0..JOBS).map(|i| pool.submit(i)).collect();
                let out: Vec<u64> = jobs.into_iter().map(|j| j.wait().unwrap()).collect();
                check(&out);
                out
            })
        });
    }

    {
        let rp = rayon::ThreadPoolBuilder::new()
            .num_threads(WORKERS)
            .build()
            .unwrap();
        g.bench_function(BenchmarkId::new("rayon-par_iter", JOBS), |b| {
            b.iter(|| {
                let out: Vec<u64> = rp.install(|| (0..JOBS).into_par_iter().map(work).collect());
                check(&out);
                out
            })
        });
    }

    {
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
                check(&out);
                out
            })
        });
    }
    g.finish();
}

fn latency(c: &mut Criterion) {
    for workers in [1usize, 4] {
        let mut g = c.benchmark_group(format!("latency/{workers}w"));
        g.sample_size(30);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));

        {
            let pool = lox::thread(workers, work);
            g.bench_function("lox-submit-wait", |b| {
                let mut i = 0u64;
                b.iter(|| {
                    i += 1;
                    pool.submit(i).wait().unwrap()
                })
            });
        }

        {
            let pool = lox::thread(workers, work);
            g.bench_function("lox-scatter-gather", |b| {
                let mut i = 0u64;
                b.iter(|| {
                    i += 1;
                    pool.scatter(i);
                    pool.gather()
                })
            });
        }

        {
            let tp = threadpool::ThreadPool::new(workers);
            g.bench_function("threadpool+channel", |b| {
                let mut i = 0u64;
                b.iter(|| {
                    i += 1;
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    tp.execute(move || tx.send(work(i)).unwrap());
                    rx.recv().unwrap()
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, throughput, latency);
criterion_main!(benches);
