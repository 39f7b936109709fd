//! Shuttle models of the pool core's lock-free handshakes, on the very code
//! of `dispatch`, `worker` (its `look` and `load`) and `numbering`, with
//! shuttle's atomics, lock and fences (`sync::model::Shuttle`).
//!
//! A parked worker is modelled by spinning on its channels with a yield:
//! a lost wake-up then spins until shuttle's step bound fails the run.
//!
//! - `scatter_meets_parking_worker`: jobs scattered while the only worker
//!   goes idle are never stranded in the dispatch buffer. Named mutant it
//!   fails on (the chunked variant): `Dispatch::push` without
//!   `|| self.idle.load() > 0`.
//! - `offer_wakes_a_parked_worker`: a job that waits for a later job of its
//!   own chunk gets it run by the other, parked worker. Named mutants:
//!   `Worker::load` without its `offer()`; `Dispatch::offer` waking only when
//!   two workers are idle (`> 1`).
//! - `cut_takes_exactly_the_jobs_before_it`: scatters racing a gather's cut
//!   each land in exactly one epoch, the cut one with an index below its
//!   count or the next one. Named mutant: `Numbering::cut` as a load and a
//!   plain store instead of a CAS (a scatter between them is numbered into
//!   the cut epoch beyond its count, or numbered twice).

use std::collections::HashSet;
use std::sync::Arc;

use crossbeam_channel::{Receiver, TryRecvError};
use shuttle::scheduler::RandomScheduler;
use shuttle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use shuttle::{thread, Config, MaxSteps, Runner};

use super::dispatch::{Chunk, Dispatch};
use super::numbering::{split, Numbering};
use super::worker::{Found, Worker};
use crate::sync::model::{Shuttle, ShuttleWord};

const ITERS: usize = 2000;

/// Random schedules with a step bound: a spinning (lost) worker fails fast.
fn check(f: impl Fn() + Send + Sync + 'static) {
    let mut config = Config::new();
    config.max_steps = MaxSteps::FailAfter(20_000);
    Runner::new(RandomScheduler::new(ITERS), config).run(f);
}

type D = Dispatch<u64, Shuttle>;

fn worker(d: &Arc<D>, jobs: &Receiver<Chunk<u64>>) -> Worker<u64, Shuttle> {
    let (local, wake) = d.register();
    Worker {
        dispatch: d.clone(),
        jobs: jobs.clone(),
        local,
        wake,
    }
}

/// The cold half of `Worker::refill`: announce idleness, look once more,
/// then park (here: spin) on the job and wake channels.
fn next_cold(w: &Worker<u64, Shuttle>) -> Option<u64> {
    loop {
        w.dispatch.enter_idle();
        let found = match w.look() {
            Found::Nothing => loop {
                match w.jobs.try_recv() {
                    Ok(chunk) => {
                        w.dispatch.taken(chunk.len());
                        break w.load(chunk).map_or(Found::Nothing, Found::Job);
                    }
                    Err(TryRecvError::Disconnected) => break Found::Closed,
                    Err(TryRecvError::Empty) => {}
                }
                if w.wake.try_recv().is_ok() {
                    break Found::Nothing;
                }
                thread::yield_now();
            },
            other => other,
        };
        w.dispatch.leave_idle();
        match found {
            Found::Job((_, job)) => return Some(job),
            Found::Closed => return None,
            Found::Nothing => {}
        }
    }
}

fn scatter_meets_parking_worker(jobs: u64, measured_ns: Option<u64>) {
    let d = Arc::new(D::new(1));
    if let Some(ns) = measured_ns {
        d.record(ns, 1); // chunks of TARGET_CHUNK_NS / ns jobs
    }
    let (tx, rx) = crossbeam_channel::unbounded();
    let w = worker(&d, &rx);
    let runner = thread::spawn(move || {
        let mut ran = HashSet::new();
        while let Some(job) = w.local.pop().map(|(_, j)| j).or_else(|| next_cold(&w)) {
            assert!(ran.insert(job), "job {job} ran twice");
        }
        ran
    });
    for job in 0..jobs {
        if let Some(chunk) = d.push(job, job) {
            tx.send(chunk).unwrap();
        }
        thread::yield_now();
    }
    // Every job was scattered; the pool stays open until the worker has run
    // them all (a stranded job spins the worker past the step bound).
    while d.pending() > 0 {
        thread::yield_now();
    }
    drop(tx);
    let ran = runner.join().unwrap();
    assert_eq!(ran.len() as u64, jobs, "a job was lost");
}

#[test]
fn model_scatter_meets_parking_worker() {
    check(|| scatter_meets_parking_worker(3, None));
}

#[test]
fn model_scatter_meets_parking_worker_in_chunks() {
    // 5 us a job: chunks of two.
    check(|| scatter_meets_parking_worker(3, Some(5_000)));
}

/// Worker A loads a chunk of three jobs whose job 0 waits until job 2 has
/// run; worker B is parked. If A runs job 0 with job 2 still behind it in its
/// deque, only B can run job 2: `load` must have woken B to steal.
fn offer_wakes_a_parked_worker() {
    let d = Arc::new(D::new(2));
    let (tx, rx) = crossbeam_channel::unbounded::<Chunk<u64>>();
    let (a, b) = (worker(&d, &rx), worker(&d, &rx));
    let ran = Arc::new(AtomicUsize::new(0));
    let third_done = Arc::new(AtomicBool::new(false));
    let run = {
        let (ran, third_done) = (ran.clone(), third_done.clone());
        move |job: u64| {
            if job == 0 {
                while !third_done.load(Ordering::SeqCst) {
                    thread::yield_now();
                }
            }
            if job == 2 {
                third_done.store(true, Ordering::SeqCst);
            }
            ran.fetch_add(1, Ordering::SeqCst);
        }
    };
    let thief = {
        let run = run.clone();
        thread::spawn(move || {
            while let Some(job) = b.local.pop().map(|(_, j)| j).or_else(|| next_cold(&b)) {
                run(job);
            }
        })
    };
    // Let the thief park first, or not.
    for _ in 0..3 {
        thread::yield_now();
    }
    let mut next = a.load(vec![(0, 0), (1, 1), (2, 2)]);
    while let Some((_, job)) = next {
        run(job);
        next = a.local.pop();
    }
    while ran.load(Ordering::SeqCst) < 3 {
        thread::yield_now();
    }
    drop(tx); // the pool closes: the parked thief returns
    thief.join().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 3);
}

#[test]
fn model_offer_wakes_a_parked_worker() {
    check(offer_wakes_a_parked_worker);
}

fn cut_takes_exactly_the_jobs_before_it() {
    let n = Arc::new(Numbering::<ShuttleWord>::new());
    let scatterers: Vec<_> = (0..2)
        .map(|_| {
            let n = n.clone();
            thread::spawn(move || (0..2).map(|_| n.next_key()).collect::<Vec<_>>())
        })
        .collect();
    let (epoch, len) = n.cut();
    let keys: Vec<u64> = scatterers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let unique: HashSet<_> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "a key was handed out twice");
    let in_cut = keys.iter().filter(|&&k| split(k).0 == epoch).count();
    assert_eq!(in_cut, len, "the cut's count differs from its jobs");
    for k in keys {
        let (e, rel) = split(k);
        if e == epoch {
            assert!(
                (rel as usize) < len,
                "job {rel} of the cut epoch is beyond its count"
            );
        } else {
            assert_eq!(e, epoch + 1, "a key outside both epochs");
        }
    }
    // The next cut takes exactly the rest.
    let (next, rest) = n.cut();
    assert_eq!((next, rest), (epoch + 1, 4 - len));
}

#[test]
fn model_cut_takes_exactly_the_jobs_before_it() {
    check(cut_takes_exactly_the_jobs_before_it);
}
