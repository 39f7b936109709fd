//! The comparisons of `own_jobs.rs`, interleaved: on a shared machine whose
//! load drifts, criterion measures one variant after the other, so a ratio
//! of two of its figures mixes two loads. Here every round runs each variant
//! twice in a row, the better of the two (in an order rotated from round to
//! round), and the ratios are taken within a round, then their median over
//! the rounds.
//!
//! `cargo bench --bench own_jobs_rounds` (`-- 31` for 31 rounds; 21 by default)
//!
//! - 100k trivial jobs on 4 workers: lox `scatter`+`gather`, `map`,
//!   `map().window(16k)`, `try_map`, `submit` x100k then `wait` each,
//!   threadpool + crossbeam channel per job, rayon `par_iter`.
//! - one round trip on a warm pool of 1 and of 4 workers: lox
//!   `submit(x).wait()`, `scatter(x); gather()`, threadpool + channel; the
//!   median of 200 round trips per variant per round.

use std::hint::black_box;
use std::time::Instant;

use rayon::prelude::*;

const JOBS: u64 = 100_000;
const WORKERS: usize = 4;
const TRIPS: usize = 200;

#[inline]
fn work(x: u64) -> u64 {
    black_box(x).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn check(out: &[u64]) {
    assert_eq!(out.len(), JOBS as usize);
    assert_eq!(out[JOBS as usize - 1], work(JOBS - 1));
}

type Variant<'a> = (&'static str, Box<dyn FnMut() -> f64 + 'a>);

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Run `variants` for `rounds` rounds, rotated; print each one's median
/// figure and its median ratio to the variants named in `baselines`.
fn rounds(title: &str, unit: &str, rounds: usize, variants: &mut [Variant], baselines: &[&str]) {
    let n = variants.len();
    let mut figures = vec![Vec::new(); n];
    for r in 0..rounds {
        for k in 0..n {
            let i = (k + r) % n;
            // Twice in a row, the better of the two: a pool that parked
            // while the others ran is woken by the first.
            let first = (variants[i].1)();
            figures[i].push(first.min((variants[i].1)()));
        }
    }
    println!("{title} ({rounds} rounds, medians)");
    let base_idx: Vec<usize> = baselines
        .iter()
        .map(|b| variants.iter().position(|v| v.0 == *b).unwrap())
        .collect();
    for i in 0..n {
        let mut line = format!(
            "  {:<28} {:>9.1} {unit}",
            variants[i].0,
            median(&mut figures[i].clone())
        );
        for &b in &base_idx {
            let mut ratios: Vec<f64> = (0..rounds).map(|r| figures[i][r] / figures[b][r]).collect();
            line += &format!("  {:>6.2}x {}", median(&mut ratios), variants[b].0);
        }
        println!("{line}");
    }
}

fn per_job(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_nanos() as f64 / JOBS as f64
}

/// Median µs of `TRIPS` calls of `trip`.
fn trips(mut trip: impl FnMut(u64)) -> f64 {
    let mut v: Vec<f64> = (0..TRIPS as u64)
        .map(|i| {
            let t = Instant::now();
            trip(i);
            t.elapsed().as_nanos() as f64 / 1e3
        })
        .collect();
    median(&mut v)
}

fn main() {
    let n_rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(21);
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    println!("load average at start: {}", load());

    {
        let sg = lox::thread(WORKERS, work);
        let map = lox::thread(WORKERS, work);
        let wide = lox::thread(WORKERS, work);
        let try_map = lox::thread(WORKERS, work);
        let submit = lox::thread(WORKERS, work);
        let tp = threadpool::ThreadPool::new(WORKERS);
        let rp = rayon::ThreadPoolBuilder::new()
            .num_threads(WORKERS)
            .build()
            .unwrap();
        let mut variants: Vec<Variant<'_>> = vec![
            (
                "lox scatter+gather",
                Box::new(|| {
                    per_job(|| {
                        for i in 0..JOBS {
                            sg.scatter(i);
                        }
                        check(&sg.gather());
                    })
                }),
            ),
            (
                "lox map",
                Box::new(|| per_job(|| check(&map.map(0..JOBS).collect::<Vec<_>>()))),
            ),
            (
                "lox map window(16k)",
                Box::new(|| {
                    per_job(|| check(&wide.map(0..JOBS).window(16_384).collect::<Vec<_>>()))
                }),
            ),
            (
                "lox try_map",
                Box::new(|| {
                    per_job(|| {
                        check(
                            &try_map
                                .try_map(0..JOBS)
                                .map(Result::unwrap)
                                .collect::<Vec<_>>(),
                        )
                    })
                }),
            ),
            (
                "lox submit+wait",
                Box::new(|| {
                    per_job(|| {
                        let jobs: Vec<_> = (0..JOBS).map(|i| submit.submit(i)).collect();
                        check(
                            &jobs
                                .into_iter()
                                .map(|j| j.wait().unwrap())
                                .collect::<Vec<_>>(),
                        );
                    })
                }),
            ),
            (
                "threadpool+channel",
                Box::new(|| {
                    per_job(|| {
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
                    })
                }),
            ),
            (
                "rayon par_iter",
                Box::new(|| {
                    per_job(|| {
                        check(
                            &rp.install(|| (0..JOBS).into_par_iter().map(work).collect::<Vec<_>>()),
                        )
                    })
                }),
            ),
        ];
        rounds(
            "100k trivial jobs on 4 workers, ns/job",
            "ns/job",
            n_rounds,
            &mut variants,
            &["lox scatter+gather", "threadpool+channel"],
        );
    }

    for workers in [1, 4] {
        let a = lox::thread(workers, work);
        let b = lox::thread(workers, work);
        let tp = threadpool::ThreadPool::new(workers);
        // Warm: every worker started.
        for i in 0..1_000 {
            a.scatter(i);
            b.scatter(i);
        }
        a.gather();
        b.gather();
        let mut variants: Vec<Variant<'_>> = vec![
            (
                "lox submit(x).wait()",
                Box::new(|| trips(|i| assert_eq!(a.submit(i).wait(), Ok(work(i))))),
            ),
            (
                "lox scatter(x); gather()",
                Box::new(|| {
                    trips(|i| {
                        b.scatter(i);
                        assert_eq!(b.gather(), [work(i)]);
                    })
                }),
            ),
            (
                "threadpool+channel",
                Box::new(|| {
                    trips(|i| {
                        let (tx, rx) = crossbeam_channel::bounded(1);
                        tp.execute(move || tx.send(work(i)).unwrap());
                        assert_eq!(rx.recv().unwrap(), work(i));
                    })
                }),
            ),
        ];
        rounds(
            &format!("one round trip on a warm pool of {workers} worker(s), median of {TRIPS}, us"),
            "us",
            n_rounds,
            &mut variants,
            &["threadpool+channel"],
        );
    }
    println!("load average at end: {}", load());
}
