//! Worker actors on threads: `thread_with`, `lifespan`, supervision of the
//! per-worker state, and the `Stats` that count it.
//!
//! No test sleeps in the hope that something happened: workers meet at
//! rendezvous with deadlines, drops are awaited on channels with generous
//! deadlines, and a gather that could hang runs on a thread with a deadline.

mod common;

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use lox::TaskError;

const DEADLINE: Duration = Duration::from_secs(60);

/// Inits and drops of worker states, per worker index.
#[derive(Default)]
struct Census {
    inits: Mutex<Vec<usize>>,
    drops: Mutex<Vec<usize>>,
}

impl Census {
    fn init(&self, index: usize) -> usize {
        let mut inits = self.inits.lock().unwrap();
        if inits.len() <= index {
            inits.resize(index + 1, 0);
        }
        inits[index] += 1;
        inits.iter().sum()
    }
    fn inits(&self) -> Vec<usize> {
        self.inits.lock().unwrap().clone()
    }
    fn drops(&self) -> Vec<usize> {
        self.drops.lock().unwrap().clone()
    }
}

/// A worker state that says when it is dropped.
struct Tracked {
    index: usize,
    /// Which state this is, counted over the whole pool (1, 2, ...).
    generation: usize,
    /// Jobs run on this state.
    jobs: usize,
    census: Arc<Census>,
    dropped: Sender<usize>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut drops = self.census.drops.lock().unwrap();
        if drops.len() <= self.index {
            drops.resize(self.index + 1, 0);
        }
        drops[self.index] += 1;
        let _ = self.dropped.send(self.index);
    }
}

fn tracked(census: &Arc<Census>) -> (impl Fn(usize) -> Tracked, Receiver<usize>) {
    let (tx, rx) = crossbeam_channel::unbounded();
    let census = census.clone();
    let init = move |index| Tracked {
        index,
        generation: census.init(index),
        jobs: 0,
        census: census.clone(),
        dropped: tx.clone(),
    };
    (init, rx)
}

/// Wait until `n` states have been dropped.
fn await_drops(dropped: &Receiver<usize>, n: usize) -> Vec<usize> {
    (0..n)
        .map(|i| {
            dropped
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("only {i} of {n} states were dropped"))
        })
        .collect()
}

/// `n` jobs meet here before any goes on, so each runs on its own worker.
struct Rendezvous {
    arrived: Mutex<usize>,
    all: Condvar,
}

impl Rendezvous {
    fn new() -> Arc<Self> {
        Arc::new(Rendezvous {
            arrived: Mutex::new(0),
            all: Condvar::new(),
        })
    }
    /// Arrive as one of round `round`'s `n` jobs; wait for the others.
    fn meet(&self, round: usize, n: usize) {
        let target = (round + 1) * n;
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all.notify_all();
        let (arrived, timeout) = self
            .all
            .wait_timeout_while(arrived, DEADLINE, |a| *a < target)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "round {round}: only {arrived} jobs met"
        );
    }
}

/// Run `f` on a thread; fail the test if it takes longer than `DEADLINE`.
fn within_deadline<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(DEADLINE)
        .expect("hung: no outcome within the deadline")
}

/// Mutant: a state built per job (or rebuilt per chunk) instead of once per
/// worker gives more than 4 inits; a worker index not taken from its slot
/// (e.g. a shared counter of starts) repeats or skips indices after a restart.
#[test]
fn state_is_built_once_per_worker() {
    let census = Arc::new(Census::default());
    let (init, dropped) = tracked(&census);
    let pool = lox::thread_with(4, init, |s: &mut Tracked, x: u64| {
        s.jobs += 1;
        (s.index, x * 2)
    });
    for i in 0..1_000 {
        pool.scatter(i);
    }
    let out = pool.gather();
    assert_eq!(out.len(), 1_000);
    assert!(out
        .iter()
        .enumerate()
        .all(|(i, &(w, y))| w < 4 && y == 2 * i as u64));
    drop(pool);
    let mut indices = await_drops(&dropped, 4);
    indices.sort();
    assert_eq!(
        indices,
        vec![0, 1, 2, 3],
        "each worker's state dropped once"
    );
    assert_eq!(
        census.inits(),
        vec![1, 1, 1, 1],
        "one init per worker index"
    );
    assert_eq!(census.drops(), vec![1, 1, 1, 1]);
}

/// Mutant: a panicking job that leaves the state in place (no `retire` on
/// panic) keeps the panicking worker at one init; rebuilding every worker's
/// state on any panic gives the other worker two.
#[test]
fn a_panic_rebuilds_only_that_workers_state() {
    let census = Arc::new(Census::default());
    let (init, dropped) = tracked(&census);
    let meet = Rendezvous::new();
    let pool = lox::thread_with(
        2,
        init,
        move |s: &mut Tracked, (round, boom): (usize, bool)| {
            s.jobs += 1;
            meet.meet(round, 2); // both workers hold one job each
            if boom {
                panic!("boom on worker {}", s.index);
            }
            (s.index, s.generation, s.jobs)
        },
    );
    pool.scatter((0, false));
    pool.scatter((0, false));
    let first = pool.gather();
    let mut workers: Vec<usize> = first.iter().map(|r| r.0).collect();
    workers.sort();
    assert_eq!(workers, vec![0, 1]);

    pool.scatter((1, false));
    pool.scatter((1, true));
    let second = pool.try_gather();
    let survivor = second[0].as_ref().unwrap().0;
    let panicked = 1 - survivor;
    match &second[1] {
        Err(TaskError::Panicked(msg)) => assert_eq!(msg, &format!("boom on worker {panicked}")),
        other => panic!("expected the job to panic, got {other:?}"),
    }

    pool.scatter((2, false));
    pool.scatter((2, false));
    for (index, generation, jobs) in pool.gather() {
        if index == panicked {
            assert_eq!((generation, jobs), (3, 1), "worker {index}: a fresh state");
        } else {
            assert!(
                generation <= 2 && jobs == 3,
                "worker {index} kept its state"
            );
        }
    }
    let mut inits = vec![1, 1];
    inits[panicked] = 2;
    assert_eq!(census.inits(), inits);
    let stats = pool.stats();
    assert_eq!(stats.per_worker[panicked].restarts, 1);
    assert_eq!(stats.per_worker[survivor].restarts, 0);
    let why = stats.per_worker[panicked].last_restart.clone().unwrap();
    assert!(why.starts_with("job panicked: boom"), "{why}");

    drop(pool);
    await_drops(&dropped, 3);
    assert_eq!(census.drops(), inits, "every state built was dropped once");
}

/// Mutant: retiring at `used > lifespan` instead of `>=` runs k + 1 jobs per
/// state (7 inits for 50 jobs at k = 7, not 8); a lifespan that drops the
/// state without rebuilding it before the next job fails the jobs after it.
#[test]
fn lifespan_retires_after_k_jobs() {
    let (k, n) = (7, 50);
    let census = Arc::new(Census::default());
    let (init, dropped) = tracked(&census);
    let pool = lox::thread_with(1, init, |s: &mut Tracked, _: usize| {
        s.jobs += 1;
        (s.generation, s.jobs)
    })
    .lifespan(k);
    for i in 0..n {
        pool.scatter(i);
    }
    let out = pool.gather();
    for (i, &(generation, jobs)) in out.iter().enumerate() {
        assert_eq!((generation, jobs), (i / k + 1, i % k + 1), "job {i}");
    }
    let inits = n.div_ceil(k);
    assert_eq!(census.inits(), vec![inits]);
    let stats = pool.stats();
    assert_eq!(stats.restarts, inits as u64 - 1);
    let why = stats.per_worker[0].last_restart.clone().unwrap();
    assert_eq!(why, format!("lifespan of {k} jobs reached"));
    drop(pool);
    await_drops(&dropped, inits);
    assert_eq!(census.drops(), vec![inits]);
}

/// `S` need not be `Send`: an `Rc` lives on its worker. Mutant: a state
/// rebuilt per job gives 1 for every job instead of counting up.
#[test]
fn state_need_not_be_send() {
    let pool = lox::thread_with(
        1,
        |_| Rc::new(std::cell::RefCell::new(Vec::new())),
        |log: &mut Rc<std::cell::RefCell<Vec<u32>>>, x: u32| {
            log.borrow_mut().push(x);
            log.borrow().len()
        },
    );
    for i in 0..10 {
        pool.scatter(i);
    }
    assert_eq!(pool.gather(), (1..=10).collect::<Vec<_>>());
}

/// Mutant: no give-up (retry `init` forever, with back-off) calls `init`
/// once per job, far past the bound; a last worker that leaves instead of
/// failing later jobs hangs the second gather.
#[test]
fn a_failing_init_is_reported_and_bounded() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let pool = lox::thread_with(
        2,
        move |index| -> u32 {
            counter.fetch_add(1, Ordering::SeqCst);
            panic!("no device {index}")
        },
        |_: &mut u32, x: u32| x,
    );
    let p = pool.clone();
    let out = within_deadline(move || {
        for i in 0..100 {
            p.scatter(i);
        }
        p.try_gather()
    });
    assert_eq!(out.len(), 100);
    for (i, outcome) in out.iter().enumerate() {
        match outcome {
            Err(TaskError::Launch(msg)) => assert!(msg.contains("no device"), "job {i}: {msg}"),
            other => panic!("job {i}: expected a Launch error, got {other:?}"),
        }
    }
    let gave_up = out
        .iter()
        .filter(|o| matches!(o, Err(TaskError::Launch(m)) if m.contains("gave up after 5 failed inits")))
        .count();
    assert!(gave_up > 0, "{out:?}");
    // Later jobs settle too, without calling init again.
    let before = calls.load(Ordering::SeqCst);
    assert!(before <= 2 * 5, "init called {before} times");
    let p = pool.clone();
    let later = within_deadline(move || {
        for i in 0..20 {
            p.scatter(i);
        }
        p.try_gather()
    });
    assert!(later.iter().all(|o| matches!(o, Err(TaskError::Launch(_)))));
    assert_eq!(calls.load(Ordering::SeqCst), before);
    let stats = pool.stats();
    assert_eq!((stats.done, stats.failed), (0, 120));
    assert_eq!(
        stats.per_worker.iter().map(|w| w.jobs).sum::<u64>(),
        0,
        "no job ran"
    );
    assert_eq!(stats.restarts, 0);
}

/// An `init` that fails once is retried after a back-off, and then serves.
/// Mutant: giving up at the first failure fails every job.
#[test]
fn an_init_that_fails_once_is_retried() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let pool = lox::thread_with(
        1,
        move |_| {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("not yet");
            }
            10u32
        },
        |base: &mut u32, x: u32| *base + x,
    );
    for i in 0..10 {
        pool.scatter(i);
    }
    let out = within_deadline(move || pool.try_gather());
    assert_eq!(out, (10..20).map(Ok).collect::<Vec<_>>());
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A worker whose `init` always fails gives up and leaves; the healthy one
/// runs everything else. Mutant: a worker that gave up and stays (fails
/// every job it takes while another stands) fails hundreds of jobs, not the
/// four it tried `init` for, the one it gave up on, and any it still held.
#[test]
fn a_worker_that_gave_up_leaves_the_others_serving() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let pool = lox::thread_with(
        2,
        move |index| {
            if index == 1 {
                counter.fetch_add(1, Ordering::SeqCst);
                panic!("worker 1 is broken");
            }
        },
        |_: &mut (), x: u64| {
            std::thread::sleep(Duration::from_millis(1));
            x
        },
    );
    let p = pool.clone();
    let out = within_deadline(move || {
        for i in 0..600 {
            p.scatter(i);
        }
        p.try_gather()
    });
    let failed = out.iter().filter(|o| o.is_err()).count();
    assert!(failed <= 10, "{failed} jobs failed");
    assert!(calls.load(Ordering::SeqCst) <= 5);
    assert!(out.iter().all(|o| match o {
        Ok(_) => true,
        Err(TaskError::Launch(m)) => m.contains("worker 1"),
        Err(_) => false,
    }));
}

/// Mutant: counting only jobs that returned (not those that panicked) in the
/// meters leaves the per-worker sum short of `done + failed`.
#[test]
fn stats_add_up() {
    let pool = lox::thread_with(
        4,
        |index| index,
        |_: &mut usize, x: u64| {
            if x % 50 == 7 {
                panic!("job {x}");
            }
            x
        },
    );
    for i in 0..1_000 {
        pool.scatter(i);
    }
    let out = pool.try_gather();
    assert_eq!(out.iter().filter(|o| o.is_err()).count(), 20);
    let stats = pool.stats();
    assert_eq!((stats.done, stats.failed), (980, 20));
    assert_eq!(stats.per_worker.len(), 4);
    let jobs: u64 = stats.per_worker.iter().map(|w| w.jobs).sum();
    assert_eq!(jobs, stats.done + stats.failed);
    assert!(stats.restarts <= 20);
    assert_eq!(
        stats.restarts,
        stats.per_worker.iter().map(|w| w.restarts).sum::<u64>()
    );
    for (i, w) in stats.per_worker.iter().enumerate() {
        assert_eq!(w.index, i);
    }
    assert!(stats.per_worker.iter().map(|w| w.busy).sum::<Duration>() > Duration::ZERO);
    assert!(common::eventually(DEADLINE, || {
        let s = pool.stats();
        (s.workers, s.busy, s.queued) == (4, 0, 0)
    }));
    drop(pool);
}

/// `S`'s `Drop` runs when the pool shuts down, after the queued jobs ran.
/// Mutant: a worker loop that returns without dropping its state (or keeps
/// it past the closed channel) never reports the drops.
#[test]
fn states_are_dropped_at_shutdown_after_queued_jobs() {
    let census = Arc::new(Census::default());
    let (init, dropped) = tracked(&census);
    let ran = Arc::new(AtomicUsize::new(0));
    let counter = ran.clone();
    let pool = lox::thread_with(3, init, move |s: &mut Tracked, _: u32| {
        s.jobs += 1;
        counter.fetch_add(1, Ordering::SeqCst);
    });
    for i in 0..300 {
        pool.scatter(i);
    }
    drop(pool); // no gather: the queued jobs still run
    let mut indices = await_drops(&dropped, 3);
    indices.sort();
    assert_eq!(indices, vec![0, 1, 2]);
    assert_eq!(ran.load(Ordering::SeqCst), 300);
}

/// Debug mode and `call` run on a state of the calling thread, built by
/// `init(0)` once, rebuilt after a panic, dropped with the pool. Mutant: a
/// pool that forgets the caller's state on drop never drops it.
#[test]
fn caller_state_in_debug_mode() {
    let census = Arc::new(Census::default());
    let (init, dropped) = tracked(&census);
    let pool = lox::thread_with(0, init, |s: &mut Tracked, boom: bool| {
        s.jobs += 1;
        assert!(!boom, "boom");
        (s.index, s.generation, s.jobs)
    });
    pool.scatter(false);
    pool.scatter(false);
    pool.scatter(true);
    pool.scatter(false);
    let out = pool.try_gather();
    assert_eq!(out[0], Ok((0, 1, 1)));
    assert_eq!(out[1], Ok((0, 1, 2)));
    assert!(matches!(&out[2], Err(TaskError::Panicked(m)) if m == "boom"));
    assert_eq!(out[3], Ok((0, 2, 1)));
    assert_eq!(pool.call(false), (0, 2, 2)); // the same caller state
    assert_eq!(census.drops(), vec![1]);
    drop(pool);
    await_drops(&dropped, 2);
    assert_eq!(census.inits(), vec![2]);
}

/// In debug mode an `init` that panics fails the job with `Launch`, and the
/// next job tries again. Mutant: calling `init` without catching its panic
/// (it unwinds out of `scatter`) or reporting it as the job's `Panicked`.
#[test]
fn a_failing_init_in_debug_mode_is_a_launch_error() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let pool = lox::thread_with(
        0,
        move |_| {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("not yet");
            }
        },
        |_: &mut (), x: u32| x,
    );
    pool.scatter(1);
    pool.scatter(2);
    let out = pool.try_gather();
    assert!(
        matches!(&out[0], Err(TaskError::Launch(m)) if m.contains("not yet")),
        "{out:?}"
    );
    assert_eq!(out[1], Ok(2));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A plain `thread()` pool is a worker actor with a unit state: `lifespan`
/// retires it too. Mutant: `Threads` without `set_lifespan` (the trait's
/// default, which ignores it) counts no restarts.
#[test]
fn lifespan_on_a_plain_pool_counts_restarts() {
    let pool = lox::thread(1, |x: u32| x).lifespan(3);
    for i in 0..10 {
        pool.scatter(i);
    }
    assert_eq!(pool.gather(), (0..10).collect::<Vec<_>>());
    let stats = pool.stats();
    assert_eq!(stats.restarts, 3); // jobs 0..3, 3..6, 6..9, 9
    assert_eq!(stats.per_worker[0].jobs, 10);
}

#[test]
fn no_worker_is_busy_once_every_result_is_gathered() {
    // Workers clear `busy` before their outcomes go out (the bug: after, so
    // a gather could return while stats still counted a worker busy).
    let pool = lox::thread(4, |x: u32| {
        std::thread::sleep(std::time::Duration::from_micros(200));
        x
    });
    for round in 0..20 {
        let sum: u32 = pool.map(0..200u32).sum();
        assert_eq!(sum, 199 * 200 / 2);
        assert_eq!(pool.stats().busy, 0, "round {round}");
    }
}
