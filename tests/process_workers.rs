//! Worker actors in process pools: `process_with` (per-worker state built by
//! `init` inside the worker process), supervision (panic, death, lifespan,
//! failing `init`) and the per-worker stats. A `harness = false` test binary:
//! its own `main` calls `lox::init()` first, because this executable is also
//! the workers. No test waits on a sleep that hopes: each either asserts on
//! what the jobs return or polls with a generous deadline.

mod common;
use common::{eventually, gone};

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use lox::TaskError;

// ---- what runs in the worker processes ----

/// `init` calls in this process.
static INITS: AtomicU64 = AtomicU64::new(0);

/// A worker's state: its index and the jobs it has counted.
struct Counter {
    index: usize,
    n: u64,
}

/// What a job saw: (worker pid, worker index, jobs counted by this state,
/// inits in this process).
type Seen = (u32, u64, u64, u64);

/// A file shared by the test (`parent` = its own pid) and its workers
/// (`parent` = their parent's pid), one line per event.
fn record_file(what: &str, parent: u32) -> PathBuf {
    std::env::temp_dir().join(format!("lox_process_workers_{what}_{parent}"))
}

/// In a worker process: append this process's pid to the parent's `what` file.
fn record(what: &str) {
    if std::env::args().nth(1).as_deref() != Some("--lox-worker") {
        return; // inline jobs run in the test process itself
    }
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() } as u32;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(record_file(what, parent))
        .expect("open the record file");
    // One write per line: O_APPEND keeps lines of several processes whole.
    let line = format!("{}\n", std::process::id());
    f.write_all(line.as_bytes()).expect("write the record file");
}

/// The pids recorded in the test's `what` file.
fn recorded(what: &str) -> Vec<u32> {
    let text = std::fs::read_to_string(record_file(what, std::process::id())).unwrap_or_default();
    text.lines().map(|l| l.parse().expect("a pid")).collect()
}

/// The pids recorded in the test's `what` file that are among `pids`
/// (workers of earlier tests' pools may still be dropping their states).
fn recorded_of(what: &str, pids: &BTreeSet<u32>) -> Vec<u32> {
    recorded(what)
        .into_iter()
        .filter(|p| pids.contains(p))
        .collect()
}

fn forget(what: &str) {
    let _ = std::fs::remove_file(record_file(what, std::process::id()));
}

impl Drop for Counter {
    fn drop(&mut self) {
        record("drops");
    }
}

fn open(index: usize) -> Counter {
    INITS.fetch_add(1, Ordering::SeqCst);
    Counter { index, n: 0 }
}

/// `init` that always fails: records the try first.
fn bad_open(index: usize) -> Counter {
    record("tries");
    panic!("no device {index}");
}

/// `init` whose worker process dies in it.
fn dying_open(_index: usize) -> Counter {
    std::process::exit(7);
}

/// `init` that works once per process, and panics when asked again.
fn once_open(index: usize) -> Counter {
    if INITS.fetch_add(1, Ordering::SeqCst) > 0 {
        panic!("second init in this process");
    }
    Counter { index, n: 0 }
}

/// `init` that works once per process, and kills its process when asked again.
fn once_then_die(index: usize) -> Counter {
    if INITS.fetch_add(1, Ordering::SeqCst) > 0 {
        std::process::exit(9);
    }
    Counter { index, n: 0 }
}

fn step(c: &mut Counter, (cmd, arg): (String, u64)) -> Seen {
    match cmd.as_str() {
        "count" => {}
        "sleep" => std::thread::sleep(Duration::from_millis(arg)),
        "panic" => panic!("job says no"),
        "exit" => std::process::exit(arg as i32),
        other => panic!("unknown command {other}"),
    }
    c.n += 1;
    let inits = INITS.load(Ordering::SeqCst);
    (std::process::id(), c.index as u64, c.n, inits)
}

/// Every thread of process `pid` has ended (so its pipes are closed): the
/// main thread shows as a zombie while others may still be exiting.
fn dead(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(|t| {
        let tid = t.file_name().to_string_lossy().into_owned();
        tid == pid.to_string() && gone(pid)
    })
}

/// A plain job (no state): the worker's pid.
fn pid_of(_: u64) -> u32 {
    std::process::id()
}

fn c(cmd: &str, arg: u64) -> (String, u64) {
    (cmd.to_owned(), arg)
}

fn ok(r: &Result<Seen, TaskError>) -> Seen {
    match r {
        Ok(seen) => *seen,
        Err(e) => panic!("expected a result, got {e:?}"),
    }
}

// ---- tests ----

/// Mutant caught: a state built per job (or not kept) counts 1 every time.
fn state_survives_across_jobs() {
    let pool = lox::process_with(1, open, step);
    for _ in 0..20 {
        pool.scatter(c("count", 0));
    }
    let out = pool.gather();
    let pid = out[0].0;
    for (i, seen) in out.iter().enumerate() {
        assert_eq!(*seen, (pid, 0, i as u64 + 1, 1), "job {i}");
    }
}

/// Mutants caught: `init` run per job or per launch attempt (inits > 1),
/// the index not passed (all 0), meters not per slot (jobs per index differ).
fn init_once_per_worker() {
    let pool = lox::process_with(4, open, step);
    for _ in 0..1000 {
        pool.scatter(c("sleep", 1));
    }
    let out = pool.gather();
    let mut by_pid: BTreeMap<u32, Vec<Seen>> = BTreeMap::new();
    for seen in out {
        by_pid.entry(seen.0).or_default().push(seen);
    }
    assert_eq!(by_pid.len(), 4, "one process per worker, none replaced");
    let mut indices = BTreeSet::new();
    let mut jobs_of = [0u64; 4];
    for (pid, seen) in &by_pid {
        let index = seen[0].1;
        assert!(indices.insert(index), "two workers with index {index}");
        for (k, s) in seen.iter().enumerate() {
            assert_eq!(*s, (*pid, index, k as u64 + 1, 1), "worker {index}");
        }
        jobs_of[index as usize] = seen.len() as u64;
    }
    assert_eq!(indices, (0..4).collect());
    let stats = pool.stats();
    let per: Vec<(usize, u64, u64)> = stats
        .per_worker
        .iter()
        .map(|w| (w.index, w.jobs, w.restarts))
        .collect();
    let want: Vec<(usize, u64, u64)> = (0..4).map(|i| (i, jobs_of[i], 0)).collect();
    assert_eq!(per, want);
    assert_eq!((stats.done, stats.failed, stats.restarts), (1000, 0, 0));
}

/// Mutant caught: a worker that keeps its state after a panic counts on (3).
fn panic_rebuilds_state() {
    forget("drops");
    let pool = lox::process_with(1, open, step);
    for cmd in ["count", "count", "panic", "count", "count"] {
        pool.scatter(c(cmd, 0));
    }
    let out = pool.try_gather();
    let pid = ok(&out[0]).0;
    assert_eq!(ok(&out[0]), (pid, 0, 1, 1));
    assert_eq!(ok(&out[1]), (pid, 0, 2, 1));
    assert!(matches!(&out[2], Err(TaskError::Panicked(m)) if m.contains("job says no")));
    assert_eq!(
        ok(&out[3]),
        (pid, 0, 1, 2),
        "same process, state built again"
    );
    assert_eq!(ok(&out[4]), (pid, 0, 2, 2));
    let ours = BTreeSet::from([pid]);
    assert_eq!(
        recorded_of("drops", &ours),
        [pid],
        "the broken state was dropped"
    );
    let w = &pool.stats().per_worker[0];
    assert_eq!((w.jobs, w.restarts), (5, 1));
    assert!(w.last_restart.as_deref().unwrap_or("").contains("panicked"));
}

/// Mutant caught: a replacement that skips `init` has no state (the job fails).
fn sigkill_rebuilds_state() {
    let pool = lox::process_with(1, open, step);
    pool.scatter(c("count", 0));
    pool.scatter(c("count", 0));
    let first = pool.gather();
    let pid = first[0].0;
    assert_eq!(first, [(pid, 0, 1, 1), (pid, 0, 2, 1)]);
    // SAFETY: a plain signal to our own worker process.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    assert!(eventually(Duration::from_secs(30), || dead(pid)));
    pool.scatter(c("count", 0));
    pool.scatter(c("count", 0));
    let second = pool.gather();
    let fresh = second[0].0;
    assert_ne!(fresh, pid);
    assert_eq!(second, [(fresh, 0, 1, 1), (fresh, 0, 2, 1)]);
    let w = &pool.stats().per_worker[0];
    assert_eq!(w.restarts, 1);
    assert!(
        w.last_restart.as_deref().unwrap_or("").contains("SIGKILL"),
        "{w:?}"
    );
}

/// Mutants caught: a lifespan ignored (one process), or enforced by killing
/// (the old state's `Drop` never runs).
fn lifespan_gives_fresh_processes() {
    forget("drops");
    let pool = lox::process_with(1, open, step).lifespan(3);
    for _ in 0..9 {
        pool.scatter(c("count", 0));
    }
    let out = pool.gather();
    let pids: Vec<u32> = out.chunks(3).map(|chunk| chunk[0].0).collect();
    for (k, chunk) in out.chunks(3).enumerate() {
        let want: Vec<Seen> = (1..=3).map(|n| (pids[k], 0, n, 1)).collect();
        assert_eq!(chunk, want, "process {k}");
    }
    assert_eq!(pids.iter().collect::<BTreeSet<_>>().len(), 3, "{pids:?}");
    // The third retires after its last reply: wait for its drop and exit.
    let ours: BTreeSet<u32> = pids.iter().copied().collect();
    let all_dropped = || recorded_of("drops", &ours) == pids;
    let waited = eventually(Duration::from_secs(30), all_dropped);
    assert!(waited, "{pids:?} {:?}", recorded("drops"));
    assert!(eventually(Duration::from_secs(30), || pool
        .stats()
        .restarts
        == 3));
    let w = &pool.stats().per_worker[0];
    assert!(
        w.last_restart.as_deref().unwrap_or("").contains("lifespan"),
        "{w:?}"
    );
    // Two workers: no process runs more than its lifespan.
    let pool = lox::process_with(2, open, step).lifespan(5);
    for _ in 0..40 {
        pool.scatter(c("count", 0));
    }
    let mut per_pid: BTreeMap<u32, u64> = BTreeMap::new();
    for (pid, _, n, inits) in pool.gather() {
        assert_eq!(inits, 1);
        let count = per_pid.entry(pid).or_default();
        *count += 1;
        assert_eq!(n, *count, "each process counts from 1");
    }
    assert!(per_pid.values().all(|&n| n <= 5), "{per_pid:?}");
    assert!(per_pid.len() >= 8, "{per_pid:?}");
    // A pool without state retires its processes too.
    let plain = lox::process(1, pid_of).lifespan(2);
    for i in 0..6 {
        plain.scatter(i);
    }
    let pids = plain.gather();
    assert!(pids.chunks(2).all(|p| p[0] == p[1]), "{pids:?}");
    assert_eq!(pids.iter().collect::<BTreeSet<_>>().len(), 3, "{pids:?}");
}

/// Mutant caught: idle workers killed when the pool goes (no `Drop` runs).
fn dropping_the_pool_drops_the_states() {
    forget("drops");
    let pool = lox::process_with(2, open, step);
    for _ in 0..40 {
        pool.scatter(c("sleep", 1));
    }
    let pids: BTreeSet<u32> = pool.gather().into_iter().map(|s| s.0).collect();
    assert_eq!(pids.len(), 2);
    assert!(recorded_of("drops", &pids).is_empty());
    drop(pool);
    let dropped = || {
        recorded_of("drops", &pids)
            .into_iter()
            .collect::<BTreeSet<_>>()
            == pids
    };
    assert!(
        eventually(Duration::from_secs(30), dropped),
        "{:?}",
        recorded("drops")
    );
    assert!(eventually(Duration::from_secs(30), || pids
        .iter()
        .all(|&p| dead(p))));
}

/// Mutant caught: no give-up (a launch per job: far more than 2 × 3 tries),
/// or a gather that never ends.
fn init_panic_fails_with_launch_bounded() {
    forget("tries");
    let pool = lox::process_with(2, bad_open, step);
    for _ in 0..30 {
        pool.scatter(c("count", 0));
    }
    for (i, r) in pool.try_gather().iter().enumerate() {
        assert!(
            matches!(r, Err(TaskError::Launch(m)) if m.contains("no device")),
            "job {i}: {r:?}"
        );
    }
    let tries = recorded("tries").len();
    assert!((1..=6).contains(&tries), "{tries} tries of init");
    // Given up: later jobs fail at once, without a launch.
    for _ in 0..10 {
        pool.scatter(c("count", 0));
    }
    for r in pool.try_gather() {
        assert!(
            matches!(&r, Err(TaskError::Launch(m)) if m.contains("gave up")),
            "{r:?}"
        );
    }
    assert_eq!(recorded("tries").len(), tries);
    assert!(pool.stats().restarts >= 3);
    // A worker that dies in init: the same, naming how it ended.
    let pool = lox::process_with(1, dying_open, step);
    pool.scatter(c("count", 0));
    let out = pool.try_gather();
    assert!(
        matches!(&out[0], Err(TaskError::Launch(m)) if m.contains("died in init") && m.contains("status 7")),
        "{out:?}"
    );
}

/// Mutant caught: a failed re-init after a panic (`init` panicking, or its
/// process dying in it) reported as anything but `Launch`, or the slot not
/// recovering with a fresh process.
fn reinit_failure_after_panic() {
    reinit_fails(once_open, "second init");
    reinit_fails(once_then_die, "died in init");
}

fn reinit_fails(init: fn(usize) -> Counter, why: &str) {
    let pool = lox::process_with(1, init, step);
    pool.scatter(c("count", 0));
    let pid = pool.gather()[0].0;
    pool.scatter(c("panic", 0));
    assert!(matches!(&pool.try_gather()[0], Err(TaskError::Panicked(_))));
    pool.scatter(c("count", 0));
    let out = pool.try_gather();
    assert!(
        matches!(&out[0], Err(TaskError::Launch(m)) if m.contains(why)),
        "{out:?}"
    );
    pool.scatter(c("count", 0));
    let (fresh, index, n, inits) = pool.gather()[0];
    assert_ne!(fresh, pid);
    assert_eq!((index, n, inits), (0, 1, 1));
}

/// Mutant caught: a job that failed on its worker (panic, death) not counted
/// in the per-worker jobs, or restarts not counted.
fn stats_add_up() {
    let pool = lox::process_with(2, open, step);
    for i in 0..60 {
        pool.scatter(match i {
            30 => c("exit", 3),
            i if i % 10 == 5 => c("panic", 0),
            _ => c("sleep", 1),
        });
    }
    let out = pool.try_gather();
    let failed = out.iter().filter(|r| r.is_err()).count();
    assert_eq!(failed, 7, "six panics and a death");
    assert!(matches!(&out[30], Err(TaskError::WorkerDied(m)) if m.contains("status 3")));
    let stats = pool.stats();
    assert_eq!((stats.done, stats.failed, stats.queued), (53, 7, 0));
    let jobs: u64 = stats.per_worker.iter().map(|w| w.jobs).sum();
    assert_eq!(jobs, 60, "{stats:?}");
    assert_eq!(stats.restarts, 7, "{stats:?}");
    let busy: Duration = stats.per_worker.iter().map(|w| w.busy).sum();
    assert!(busy >= Duration::from_millis(50), "{busy:?}");
    assert!(eventually(Duration::from_secs(30), || pool.stats().busy == 0));
    assert!(pool.stats().workers <= 2);
}

/// Mutants caught: inline jobs building the state per job, or keeping a
/// state that a panic broke.
fn inline_mode() {
    let pool = lox::process_with(0, open, step);
    let me = std::process::id();
    let before = INITS.load(Ordering::SeqCst);
    for _ in 0..3 {
        pool.scatter(c("count", 0));
    }
    let out = pool.gather();
    let ns: Vec<(u32, u64, u64)> = out.iter().map(|s| (s.0, s.1, s.2)).collect();
    assert_eq!(ns, [(me, 0, 1), (me, 0, 2), (me, 0, 3)]);
    assert_eq!(pool.call(c("count", 0)).2, 4, "call uses the same state");
    pool.scatter(c("panic", 0));
    pool.scatter(c("count", 0));
    let out = pool.try_gather();
    assert!(matches!(&out[0], Err(TaskError::Panicked(_))));
    assert_eq!(ok(&out[1]).2, 1, "state built again after the panic");
    assert_eq!(INITS.load(Ordering::SeqCst) - before, 2);
    let bad = lox::process_with(0, bad_open, step);
    bad.scatter(c("count", 0));
    assert!(matches!(&bad.try_gather()[0], Err(TaskError::Launch(m)) if m.contains("no device 0")));
}

const TEST_DEADLINE: Duration = Duration::from_secs(300);

fn main() {
    lox::init();
    let tests: &[(&str, fn())] = &[
        ("state_survives_across_jobs", state_survives_across_jobs),
        ("init_once_per_worker", init_once_per_worker),
        ("panic_rebuilds_state", panic_rebuilds_state),
        ("sigkill_rebuilds_state", sigkill_rebuilds_state),
        (
            "lifespan_gives_fresh_processes",
            lifespan_gives_fresh_processes,
        ),
        (
            "dropping_the_pool_drops_the_states",
            dropping_the_pool_drops_the_states,
        ),
        (
            "init_panic_fails_with_launch_bounded",
            init_panic_fails_with_launch_bounded,
        ),
        ("reinit_failure_after_panic", reinit_failure_after_panic),
        ("stats_add_up", stats_add_up),
        ("inline_mode", inline_mode),
    ];
    common::run_tests("process_workers", tests, TEST_DEADLINE);
}
