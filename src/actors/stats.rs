//! What a pool's Supervisor knows: [`Stats`], a snapshot, and the meters
//! behind it. Each worker slot has one [`Meter`] of atomics that only its
//! worker writes (jobs, busy time, restarts), so the hot path stays free of
//! locks; done and failed are counted where outcomes are sorted (the
//! collector).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// A snapshot of a pool, from [`Pool::stats`](crate::Pool::stats) or the
/// Supervisor's [`Stats`](crate::actors::Stats) message.
///
/// ```
/// let pool = lox::thread(2, |x: u64| x + 1);
/// for i in 0..10 { pool.scatter(i); }
/// pool.gather();
/// let stats = pool.stats();
/// assert_eq!((stats.done, stats.failed), (10, 0));
/// assert_eq!(stats.per_worker.iter().map(|w| w.jobs).sum::<u64>(), 10);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Workers alive now.
    pub workers: usize,
    /// Workers running a job now.
    pub busy: usize,
    /// Jobs scattered or submitted and not yet started.
    pub queued: usize,
    /// Jobs finished with `Ok`.
    pub done: u64,
    /// Jobs finished with `Err` (any [`TaskError`](crate::TaskError), cancellations included).
    pub failed: u64,
    /// Worker states rebuilt or worker processes replaced, any cause.
    pub restarts: u64,
    /// One entry per worker slot, by index.
    pub per_worker: Vec<WorkerStats>,
}

/// One worker slot of a [`Stats`] snapshot.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// The slot's index, `0..n_workers`; a replacement keeps it.
    pub index: usize,
    /// Jobs this slot has run (all its incarnations).
    pub jobs: u64,
    /// Time spent running jobs.
    pub busy: Duration,
    /// Times this slot's state was rebuilt or its process replaced.
    pub restarts: u64,
    /// Why it last restarted (a panic, a lifespan, a dead process, ...).
    pub last_restart: Option<String>,
}

/// The live counters of one worker slot. Written by its worker (and its
/// supervisor on restarts), read by [`Meters::snapshot`]. One cache line
/// each (two for a big `Mutex`), so that workers never write to a line that
/// another worker writes.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Meter {
    pub(crate) alive: AtomicBool,
    pub(crate) busy: AtomicBool,
    pub(crate) jobs: AtomicU64,
    pub(crate) busy_ns: AtomicU64,
    pub(crate) restarts: AtomicU64,
    last_restart: Mutex<Option<String>>,
}

impl Meter {
    /// Count a restart of this slot and say why; logged through `log`.
    pub(crate) fn restarted(&self, index: usize, why: String) {
        log::info!("lox: worker {index} restarted: {why}");
        self.restarts.fetch_add(1, Ordering::Relaxed);
        *self.last_restart.lock() = Some(why);
    }

    /// `jobs` jobs ran in `busy`.
    #[inline]
    pub(crate) fn ran(&self, jobs: u64, busy: Duration) {
        self.jobs.fetch_add(jobs, Ordering::Relaxed);
        self.busy_ns
            .fetch_add(busy.as_nanos() as u64, Ordering::Relaxed);
    }
}

/// The meters of every worker slot of a pool (crate-internal; public only in
/// name, for the `Backend` trait).
#[derive(Debug)]
pub struct Meters(Box<[Meter]>);

impl Meters {
    pub(crate) fn new(n_workers: usize) -> Self {
        Meters((0..n_workers).map(|_| Meter::default()).collect())
    }

    /// Slot `index`'s meter.
    pub(crate) fn slot(&self, index: usize) -> &Meter {
        &self.0[index]
    }

    /// The per-worker half of a snapshot; the caller fills in the pool-wide
    /// counts (`queued`, `done`, `failed`).
    pub(crate) fn snapshot(&self) -> Stats {
        let per_worker: Vec<WorkerStats> = self
            .0
            .iter()
            .enumerate()
            .map(|(index, m)| WorkerStats {
                index,
                jobs: m.jobs.load(Ordering::Relaxed),
                busy: Duration::from_nanos(m.busy_ns.load(Ordering::Relaxed)),
                restarts: m.restarts.load(Ordering::Relaxed),
                last_restart: m.last_restart.lock().clone(),
            })
            .collect();
        Stats {
            workers: self.count(|m| m.alive.load(Ordering::Relaxed)),
            busy: self.count(|m| m.busy.load(Ordering::Relaxed)),
            restarts: per_worker.iter().map(|w| w.restarts).sum(),
            per_worker,
            ..Stats::default()
        }
    }

    fn count(&self, f: impl Fn(&Meter) -> bool) -> usize {
        self.0.iter().filter(|m| f(m)).count()
    }
}
