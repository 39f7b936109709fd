//! Cancellation in process pools: `Job::cancel` of a running job (its worker
//! is killed, a fresh one takes the jobs behind it), of jobs not started
//! (held by a manager, sent ahead to a worker, or on the pool's queue: they
//! never run), `cancel_pending`, a dropped `Batch`, and a finished job. A
//! `harness = false` test binary: its own `main` calls `lox::init()` first,
//! because this executable is also the workers. Jobs coordinate with the test
//! through files (a job records that it ran; a blocking job waits for a file
//! the test creates); every wait has a generous deadline.

mod common;
use common::{eventually, gone};

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use lox::TaskError;

// ---- what runs in the worker processes ----

/// A job: (test, number, whether it blocks until the test releases it).
type Args = (String, u64, bool);

/// The test process: the worker's parent, or this process when not a worker.
fn test_pid() -> u32 {
    if std::env::args().nth(1).as_deref() == Some("--lox-worker") {
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() as u32 }
    } else {
        std::process::id()
    }
}

/// A file of `test` shared by the test and its workers.
fn file(test: &str, what: &str) -> PathBuf {
    std::env::temp_dir().join(format!("lox_process_cancel_{test}_{what}_{}", test_pid()))
}

/// Append one line to a file (one write: lines of several processes stay whole).
fn append(path: PathBuf, line: String) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open a record file");
    f.write_all(line.as_bytes()).expect("write a record file");
}

/// Wait (in a worker) until the test creates `path`.
fn wait_for(path: PathBuf) {
    let end = Instant::now() + Duration::from_secs(300);
    while !path.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Record that job `n` of `test` runs here; block if asked. Returns (pid, n).
fn job((test, n, block): Args) -> (u32, u64) {
    append(file(&test, "ran"), format!("{n} {}\n", std::process::id()));
    if block {
        wait_for(file(&test, "release"));
    }
    (std::process::id(), n)
}

/// `process_with`: the state is the pid that built it.
fn init_a(_: usize) -> u32 {
    append(file("a", "init"), format!("{}\n", std::process::id()));
    std::process::id()
}

/// `process_with`: an `init` that waits for the test's go.
fn init_b(_: usize) -> u32 {
    append(file("b", "init"), format!("{}\n", std::process::id()));
    wait_for(file("b", "gate"));
    std::process::id()
}

/// `process_with`: another `init` that waits for the test's go.
fn init_c(_: usize) -> u32 {
    append(file("c", "init"), format!("{}\n", std::process::id()));
    wait_for(file("c", "gate"));
    std::process::id()
}

/// A job with state: (pid that built the state, pid, n).
fn step(state: &mut u32, args: Args) -> (u32, u32, u64) {
    let (pid, n) = job(args);
    (*state, pid, n)
}

// ---- the test's side ----

const LONG: Duration = Duration::from_secs(60);

fn args(test: &str, n: u64, block: bool) -> Args {
    (test.to_owned(), n, block)
}

/// The (n, pid) records of `test`'s `what` file.
fn ran(test: &str) -> Vec<(u64, u32)> {
    let text = std::fs::read_to_string(file(test, "ran")).unwrap_or_default();
    let pair = |l: &str| {
        let (n, pid) = l.split_once(' ').expect("n pid");
        (n.parse().expect("n"), pid.parse().expect("pid"))
    };
    text.lines().map(pair).collect()
}

fn ran_numbers(test: &str) -> Vec<u64> {
    let mut ns: Vec<u64> = ran(test).into_iter().map(|(n, _)| n).collect();
    ns.sort_unstable();
    ns
}

/// Job `n` of `test` has started (in the pid returned).
fn started(test: &str, n: u64) -> u32 {
    let mut pid = None;
    let seen = eventually(LONG, || {
        pid = ran(test).into_iter().find(|r| r.0 == n).map(|r| r.1);
        pid.is_some()
    });
    assert!(seen, "job {n} of {test} did not start within {LONG:?}");
    pid.expect("seen")
}

fn fresh(test: &str) {
    for what in ["ran", "release", "init", "gate"] {
        let _ = std::fs::remove_file(file(test, what));
    }
}

fn release(test: &str) {
    append(file(test, "release"), String::new());
}

/// A running job's cancel kills its worker and reports `Cancelled` at once;
/// the job behind it runs on a fresh worker whose state `init` built again;
/// the cancelled job is not retried (the pool allows retries).
fn cancel_running_job_kills_its_worker() {
    fresh("a");
    let pool = lox::process_with(1, init_a, step).retries(3);
    let running = pool.submit(args("a", 0, true));
    let pid = started("a", 0);
    let behind = pool.submit(args("a", 1, false));
    let t0 = Instant::now();
    assert!(running.cancel());
    assert_eq!(running.wait(), Err(TaskError::Cancelled));
    assert!(
        eventually(LONG, || gone(pid)),
        "worker {pid} running the cancelled job was not killed"
    );
    let out = behind.wait_timeout(LONG).expect("the job behind it ran");
    let (state_pid, pid2, n) = out.expect("the job behind it succeeded");
    assert_eq!(n, 1);
    assert_ne!(pid2, pid, "a fresh worker took it");
    assert_eq!(state_pid, pid2, "the fresh worker built its own state");
    assert!(t0.elapsed() < LONG);
    let later = pool.submit(args("a", 2, false)).wait_timeout(LONG);
    assert_eq!(later, Ok(Ok((pid2, pid2, 2))));
    assert_eq!(
        ran_numbers("a"),
        [0, 1, 2],
        "the cancelled job ran once, not again"
    );
    let inits = std::fs::read_to_string(file("a", "init")).unwrap_or_default();
    assert_eq!(
        inits.lines().count(),
        2,
        "init ran in both workers: {inits}"
    );
    assert!(pool.stats().restarts >= 1);
}

/// Jobs not started never run once cancelled: one the manager holds while
/// its worker is still in `init`, one sent ahead to the worker (in its pipe
/// behind the running job), and some on the pool's queue. Every other job's
/// result is there, once.
fn cancelled_jobs_that_had_not_started_never_run() {
    fresh("b");
    let pool = lox::process_with(1, init_b, step);
    let held = pool.submit(args("b", 0, false));
    // `init` runs: the manager took job 0 before starting the worker.
    let init = file("b", "init");
    assert!(eventually(LONG, || init.exists()), "no worker started");
    let blocker = pool.submit(args("b", 1, true));
    let jobs: Vec<_> = (2..=12).map(|n| pool.submit(args("b", n, false))).collect();
    assert!(held.cancel(), "job 0, held by its manager");
    assert_eq!(held.wait(), Err(TaskError::Cancelled));
    append(file("b", "gate"), String::new());
    // The worker takes job 1 and, sent ahead in its pipe, job 2.
    started("b", 1);
    let mut kept = Vec::new();
    for (job, n) in jobs.into_iter().zip(2..) {
        if n % 2 == 0 {
            assert!(job.cancel(), "job {n}");
            assert_eq!(job.wait(), Err(TaskError::Cancelled), "job {n}");
        } else {
            kept.push((job, n));
        }
    }
    release("b");
    let out = blocker.wait_timeout(LONG).expect("the blocking job ended");
    let pid = out.expect("the blocking job succeeded").1;
    for (job, n) in kept {
        let out = job.wait_timeout(LONG).expect("a kept job ended");
        assert_eq!(out, Ok((pid, pid, n)));
    }
    assert_eq!(ran_numbers("b"), [1, 3, 5, 7, 9, 11], "cancelled jobs ran");
}

/// `cancel_pending` takes every job not started (each worker has one sent
/// ahead, the rest wait on the pool's queue), says how many, and a gather
/// shows exactly that many `Cancelled`, each once; the running jobs finish.
fn cancel_pending_counts_what_it_cancelled() {
    fresh("c");
    let pool = lox::process_with(2, init_c, step);
    // Each manager takes one job, then waits for its worker's `init`.
    pool.scatter(args("c", 0, true));
    pool.scatter(args("c", 1, true));
    let init = file("c", "init");
    let both = || std::fs::read_to_string(&init).is_ok_and(|t| t.lines().count() == 2);
    assert!(eventually(LONG, both), "two workers did not start");
    for n in 2..42 {
        pool.scatter(args("c", n, false));
    }
    append(file("c", "gate"), String::new());
    started("c", 0);
    started("c", 1);
    let cancelled = pool.cancel_pending();
    assert_eq!(cancelled, 40, "every job behind the two running ones");
    assert_eq!(pool.cancel_pending(), 0, "nothing left to cancel");
    assert_eq!(pool.stats().queued, 0, "nothing waits to start");
    release("c");
    let out = pool.try_gather();
    assert_eq!(out.len(), 42);
    let n_cancelled = out
        .iter()
        .filter(|o| **o == Err(TaskError::Cancelled))
        .count();
    assert_eq!(n_cancelled, cancelled);
    assert!(matches!(out[0], Ok((_, _, 0))) && matches!(out[1], Ok((_, _, 1))));
    assert_eq!(ran_numbers("c"), [0, 1]);
    let stats = pool.stats();
    assert_eq!((stats.done, stats.failed), (2, 40), "each outcome once");
    // The pool goes on.
    pool.scatter(args("c", 99, false));
    assert!(matches!(pool.try_gather()[..], [Ok((_, _, 99))]));
}

/// Dropping a batch cancels its jobs that had not started: they never run.
fn dropping_a_batch_cancels_its_unstarted_jobs() {
    fresh("d");
    let pool = lox::process(1, job);
    let blocker = pool.submit(args("d", 0, true));
    started("d", 0);
    let batch = pool.batch();
    for n in 1..=5 {
        batch.scatter(args("d", n, false));
    }
    assert_eq!(batch.len(), 5);
    drop(batch);
    release("d");
    assert!(matches!(blocker.wait_timeout(LONG), Ok(Ok((_, 0)))));
    // One worker runs jobs in order: once this one is done, so is the batch.
    let last = pool.submit(args("d", 6, false)).wait_timeout(LONG);
    assert!(matches!(last, Ok(Ok((_, 6)))));
    assert_eq!(ran_numbers("d"), [0, 6], "the batch's jobs ran");
    assert_eq!(pool.stats().queued, 0);
}

/// A finished job's cancel says false and its result stays.
fn cancel_of_a_finished_job_is_false() {
    fresh("e");
    let pool = lox::process(1, job);
    let done = pool.submit(args("e", 1, false));
    assert!(
        eventually(LONG, || done.is_done()),
        "the job did not finish"
    );
    assert!(!done.cancel());
    let (pid, n) = done.wait().expect("its result");
    assert_eq!(n, 1);
    // The worker was not touched.
    assert_eq!(
        pool.submit(args("e", 2, false)).wait_timeout(LONG),
        Ok(Ok((pid, 2)))
    );
    let pids: BTreeSet<u32> = ran("e").into_iter().map(|r| r.1).collect();
    assert_eq!(pids.len(), 1);
}

const TEST_DEADLINE: Duration = Duration::from_secs(300);

fn main() {
    lox::init();
    let tests: &[(&str, fn())] = &[
        (
            "cancel_running_job_kills_its_worker",
            cancel_running_job_kills_its_worker,
        ),
        (
            "cancelled_jobs_that_had_not_started_never_run",
            cancelled_jobs_that_had_not_started_never_run,
        ),
        (
            "cancel_pending_counts_what_it_cancelled",
            cancel_pending_counts_what_it_cancelled,
        ),
        (
            "dropping_a_batch_cancels_its_unstarted_jobs",
            dropping_a_batch_cancels_its_unstarted_jobs,
        ),
        (
            "cancel_of_a_finished_job_is_false",
            cancel_of_a_finished_job_is_false,
        ),
    ];
    for test in ["a", "b", "c", "d", "e"] {
        fresh(test);
    }
    common::run_tests("process_cancel", tests, TEST_DEADLINE);
}
