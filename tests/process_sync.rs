//! Sync handles and announcement peers passed to process workers: every
//! acquire inside a worker is granted by the one broker in the parent. A
//! `harness = false` test binary (it is also the workers): `main` calls
//! `lox::init()` first. Waits use the brokers' own counters (`waiting()`,
//! `is_locked()`) with generous deadlines, never sleeps that hope.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lox::{Announcement, IndexSemaphore, LightSwitch, Lock, QLock, RWLock, TaskError, Timeout};

const PATIENCE: Duration = Duration::from_secs(60);

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lox-sync-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Block until `cond` holds, or fail the test after `PATIENCE`.
fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(t0.elapsed() < PATIENCE, "gave up waiting for: {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn read_counter(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

// ---- jobs (plain fns: they run in the workers) ----

/// Read-modify-write a counter file `n` times under the lock: without
/// mutual exclusion across processes, increments get lost.
fn bump((lock, path, n): (Lock, String, u64)) -> u64 {
    let path = Path::new(&path);
    for _ in 0..n {
        let _g = lock.acquire();
        let v = read_counter(path);
        std::thread::yield_now();
        std::fs::write(path, format!("{}", v + 1)).unwrap();
    }
    std::process::id() as u64
}

/// Many threads of one worker hammer the parent's lock: blocking, try and
/// timeout acquires, and async ones of which some are abandoned midway.
fn hammer((lock, path, threads, n): (Lock, String, u64, u64)) -> u64 {
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (lock, path) = (lock.clone(), path.clone());
            std::thread::spawn(move || {
                let mut done = 0;
                for i in 0..n {
                    let guard = match (t + i) % 4 {
                        0 => Some(lock.acquire()),
                        1 => lock.try_acquire(),
                        2 => lock.acquire_timeout(Duration::from_millis(1)).ok(),
                        _ => futures::executor::block_on(async {
                            // Give up on one acquire, then wait for another.
                            let mut first = Box::pin(lock.acquire_async());
                            let _ = futures::poll!(&mut first);
                            drop(first);
                            Some(lock.acquire_async().await)
                        }),
                    };
                    if let Some(_g) = guard {
                        let path = Path::new(&path);
                        let v = read_counter(path);
                        std::fs::write(path, format!("{}", v + 1)).unwrap();
                        done += 1;
                    }
                }
                done
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

/// The GPU job: hold a slot ~15 ms; report (slot, start, end).
fn gpu((gpus, job): (IndexSemaphore, u64)) -> (u64, usize, u64, u64) {
    let g = gpus.acquire();
    let start = now_ns();
    std::thread::sleep(Duration::from_millis(15));
    let end = now_ns();
    let i = g.index();
    drop(g);
    (job, i, start, end)
}

/// Wait for the QLock, then append `me` to the file (in grant order).
fn fifo((q, path, me): (QLock, String, u64)) -> u64 {
    let _g = q.acquire();
    let mut s = std::fs::read_to_string(&path).unwrap_or_default();
    s.push_str(&format!("{me} "));
    std::fs::write(&path, s).unwrap();
    me
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
enum RwOut {
    Wrote,
    /// (try_read refused, read_timeout refused) while a writer waited
    Blocked(bool, bool),
}

fn rw_job((rw, what): (RWLock, String)) -> RwOut {
    match what.as_str() {
        "write" => {
            let _w = rw.write();
            RwOut::Wrote
        }
        "read_behind_writer" => {
            let refused_try = rw.try_read().is_none();
            let refused_timeout = rw.read_timeout(Duration::from_millis(50)).is_err();
            RwOut::Blocked(refused_try, refused_timeout)
        }
        other => panic!("unknown {other}"),
    }
}

/// Probes of a lock: (try got it, the timeout twin got it, is_locked).
fn probe(lock: Lock) -> (bool, bool, bool) {
    let tried = lock.try_acquire().is_some();
    let timed = lock.acquire_timeout(Duration::from_millis(50)).is_ok();
    (tried, timed, lock.is_locked())
}

/// Take the lock and a slot, queue for `blocker` (held by the parent), and
/// die holding the first two while waiting for the third.
fn die_holding((lock, sem, blocker, marker): (Lock, IndexSemaphore, Lock, String)) -> u64 {
    let _g = lock.acquire();
    let _s = sem.acquire();
    std::thread::spawn(move || drop(blocker.acquire()));
    std::fs::write(marker, b"inside").unwrap();
    // SAFETY: a plain signal to this very process, mid critical section.
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    unreachable!()
}

/// A peer of the parent's group: read `n` items, put their sum.
fn listener((peer, n): (Announcement<u64>, u64)) -> u64 {
    let mut sum = 0;
    for _ in 0..n {
        sum += peer
            .get_timeout(PATIENCE)
            .expect("an item within the deadline");
    }
    peer.put(sum);
    sum
}

/// A peer nobody puts to: (try_get was empty, get_timeout timed out, qsize).
fn quiet(peer: Announcement<u64>) -> (bool, bool, usize) {
    (
        peer.try_get().is_none(),
        peer.get_timeout(Duration::from_millis(20)) == Err(Timeout),
        peer.qsize(),
    )
}

/// Subscribe a new peer from the worker: it is a member of the parent's
/// group while the job keeps it.
fn subscriber(peer: Announcement<String>) -> (usize, String) {
    let mine = peer.subscribe().expect("not finalized");
    let members = mine.subscribers();
    // To every other peer: the parent's and the job's.
    mine.put("joined".to_owned());
    (
        members,
        mine.get_timeout(PATIENCE).expect("the parent's answer"),
    )
}

fn switch_job((sw, lock): (LightSwitch, Lock)) -> (bool, usize) {
    let _g = sw.acquire();
    (lock.is_locked(), sw.count())
}

fn async_job((lock, mode): (Lock, u32)) -> usize {
    futures::executor::block_on(async {
        if mode == 0 {
            let _g = lock.acquire_async().await;
            1
        } else {
            // Start an acquire of a held lock, then give up on it.
            let mut f = Box::pin(lock.acquire_async());
            assert!(futures::poll!(&mut f).is_pending());
            drop(f);
            0
        }
    })
}

fn give_back(lock: Lock) -> Lock {
    lock
}

/// Leave a thread behind that takes the lock once `go` exists, after the
/// job has returned.
fn leave_thread((lock, dir): (Lock, String)) -> u64 {
    std::thread::spawn(move || {
        let dir = Path::new(&dir);
        while !dir.join("go").exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _g = lock.acquire();
        std::fs::write(dir.join("got"), b"yes").unwrap();
    });
    1
}

/// Subscribe a peer and wait on it forever (killed by the pool's timeout).
fn wait_forever(peer: Announcement<u64>) -> u64 {
    let mine = peer.subscribe().unwrap();
    mine.get()
}

/// Subscribe a peer and hand it to the parent.
fn subscribe_and_return(peer: Announcement<u64>) -> Announcement<u64> {
    peer.subscribe().unwrap()
}

/// An async acquire does nothing until polled.
fn lazy_async(lock: Lock) -> bool {
    let unpolled = lock.acquire_async();
    let free = lock.try_acquire().is_some();
    drop(unpolled);
    free
}

/// Start and abandon `n` async gets while the parent puts `n` items; then
/// collect all `n`: an item taken for an abandoned get must come back.
fn abandon_gets((peer, n): (Announcement<u64>, u64)) -> u64 {
    // A get that is answered by its first poll keeps its item.
    let (mut sum, mut got) = (0, 0);
    futures::executor::block_on(async {
        for _ in 0..n {
            let mut get = Box::pin(peer.get_async());
            if let std::task::Poll::Ready(x) = futures::poll!(&mut get) {
                sum += x;
                got += 1;
            }
        }
    });
    sum + (got..n)
        .map(|_| peer.get_timeout(PATIENCE).expect("every item arrives"))
        .sum::<u64>()
}

/// Abandon a get that the parent has already answered: the item crosses
/// the withdrawal and must come back to the peer's queue.
fn crossing((peer, dir): (Announcement<u64>, String)) -> u64 {
    let dir = Path::new(&dir);
    futures::executor::block_on(async {
        let mut get = Box::pin(peer.get_async());
        assert!(futures::poll!(&mut get).is_pending()); // the request is out
        peer.put(0); // tells the parent (after the request, same channel)
        while !dir.join("put").exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Let the answer arrive (it then waits, unclaimed, in the future).
        std::thread::sleep(Duration::from_millis(100));
    });
    peer.get_timeout(PATIENCE).expect("the item came back")
}

/// Subscribe a peer, start and abandon a get on it, return it.
fn subscribe_abandon_return(peer: Announcement<u64>) -> Announcement<u64> {
    let mine = peer.subscribe().unwrap();
    futures::executor::block_on(async {
        let mut get = Box::pin(mine.get_async());
        let _ = futures::poll!(&mut get);
    });
    mine
}

/// Subscribe a peer, let an item cross a withdrawn get on it, return it:
/// the item must be in the peer the parent gets back.
fn crossing_return((peer, dir): (Announcement<u64>, String)) -> Announcement<u64> {
    let dir = Path::new(&dir);
    let mine = peer.subscribe().unwrap();
    futures::executor::block_on(async {
        let mut get = Box::pin(mine.get_async());
        assert!(futures::poll!(&mut get).is_pending());
        mine.put(0); // to the parent, after the get request
        while !dir.join("put").exists() {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(100));
    });
    mine
}

/// Report this process's id, then wait for one item.
fn stuck(peer: Announcement<Vec<u8>>) -> usize {
    peer.put(std::process::id().to_le_bytes().to_vec());
    peer.get().len()
}

// ---- tests ----

fn lock_excludes_across_workers() {
    let dir = tmpdir("lock");
    let path = dir.join("counter");
    let lock = Lock::new(());
    let pool = lox::process(3, bump);
    for _ in 0..6 {
        pool.scatter((lock.clone(), path.display().to_string(), 40));
    }
    // The parent takes part through its own handle meanwhile.
    for _ in 0..40 {
        let _g = lock.acquire();
        let v = read_counter(&path);
        std::fs::write(&path, format!("{}", v + 1)).unwrap();
    }
    let pids = pool.gather();
    assert_eq!(read_counter(&path), 6 * 40 + 40, "an increment was lost");
    let distinct: std::collections::BTreeSet<_> = pids.into_iter().collect();
    assert!(distinct.len() >= 2, "the jobs ran in more than one worker");
    assert!(!lock.is_locked());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Stress: 2 workers x 4 threads and 2 parent threads on one lock, with
/// every kind of acquire; the counter must equal the grants reported.
fn stress_many_threads_many_processes() {
    let dir = tmpdir("stress");
    let path = dir.join("counter");
    let lock = Lock::new(());
    let pool = lox::process(2, hammer);
    for _ in 0..4 {
        pool.scatter((lock.clone(), path.display().to_string(), 4, 60));
    }
    let parent: Vec<_> = (0..2)
        .map(|_| {
            let (lock, path) = (lock.clone(), path.clone());
            std::thread::spawn(move || {
                for _ in 0..200 {
                    let _g = lock.acquire();
                    let v = read_counter(&path);
                    std::fs::write(&path, format!("{}", v + 1)).unwrap();
                }
            })
        })
        .collect();
    for t in parent {
        t.join().unwrap();
    }
    let granted: u64 = pool.gather().iter().sum();
    assert!(
        granted >= 4 * 4 * 30,
        "the blocking half always gets in: {granted}"
    );
    assert_eq!(read_counter(&path), granted + 400, "an increment was lost");
    until("every worker request settled", || lock.waiting() == 0);
    assert!(!lock.is_locked());
    let _ = std::fs::remove_dir_all(&dir);
}

fn semaphore_indices_across_workers() {
    let gpus = IndexSemaphore::new(2);
    let pool = lox::process(4, gpu);
    for job in 0..16 {
        pool.scatter((gpus.clone(), job));
    }
    let out = pool.gather();
    assert_eq!(
        out.iter().map(|r| r.0).collect::<Vec<_>>(),
        (0..16).collect::<Vec<_>>()
    );
    let mut by_slot: BTreeMap<usize, Vec<(u64, u64)>> = BTreeMap::new();
    for &(_, i, s, e) in &out {
        assert!(i < 2, "index {i} out of range");
        by_slot.entry(i).or_default().push((s, e));
    }
    for (i, spans) in &mut by_slot {
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].1 <= w[1].0, "slot {i} held by two jobs at once: {w:?}");
        }
    }
    assert_eq!(gpus.available(), 2, "every slot came back");
}

fn qlock_fifo_across_workers() {
    let dir = tmpdir("fifo");
    let path = dir.join("order");
    let q = QLock::new(());
    let pool = lox::process(4, fifo);
    let held = q.acquire();
    // One job at a time, each queued in the parent's broker before the next.
    for me in 0..4u64 {
        pool.scatter((q.clone(), path.display().to_string(), me));
        until("the job queued on the QLock", || {
            q.waiting() == me as usize + 1
        });
    }
    drop(held);
    // Handed to the first waiter at the release: a newcomer cannot barge in
    // (a plain Lock would let it, while the woken waiter is on its way).
    assert!(q.try_acquire().is_none(), "a newcomer passed the queue");
    assert_eq!(pool.gather(), vec![0, 1, 2, 3]);
    let order = std::fs::read_to_string(&path).unwrap();
    assert_eq!(order.trim(), "0 1 2 3", "granted in arrival order");
    assert!(!q.is_locked());
    let _ = std::fs::remove_dir_all(&dir);
}

fn rwlock_writer_preference_across_workers() {
    let rw = RWLock::new(());
    let pool = lox::process(2, rw_job);
    let reading = rw.read();
    let writer = pool.scatter((rw.clone(), "write".to_owned()));
    until("the worker's writer queued", || rw.waiting() == 1);
    // A reader in another worker must not pass the waiting writer.
    let reader = pool.scatter((rw.clone(), "read_behind_writer".to_owned()));
    until("the reader's probes finished", || reader.is_done());
    assert!(
        !writer.is_done(),
        "the writer waits for the parent's reader"
    );
    drop(reading);
    assert_eq!(
        pool.gather(),
        vec![RwOut::Wrote, RwOut::Blocked(true, true)]
    );
    assert_eq!(rw.readers(), 0);
    assert!(rw.try_write().is_some());
}

fn timeouts_and_try_in_workers() {
    let lock = Lock::new(());
    let pool = lox::process(1, probe);
    let held = lock.acquire();
    pool.scatter(lock.clone());
    assert_eq!(pool.gather(), vec![(false, false, true)]);
    assert_eq!(lock.waiting(), 0, "the timed-out waiter left the queue");
    drop(held);
    pool.scatter(lock.clone());
    // Free: the try succeeds (and releases), so does the timeout twin.
    assert_eq!(pool.gather(), vec![(true, true, false)]);
    assert!(!lock.is_locked());
}

fn sigkill_mid_critical_section_releases() {
    let dir = tmpdir("kill");
    let marker = dir.join("inside");
    let lock = Lock::new(());
    let sem = IndexSemaphore::new(1);
    let blocker = Lock::new(());
    let held = blocker.acquire();
    let pool = lox::process(1, die_holding);
    pool.scatter((
        lock.clone(),
        sem.clone(),
        blocker.clone(),
        marker.display().to_string(),
    ));
    let out = pool.try_gather();
    assert!(
        matches!(&out[0], Err(TaskError::WorkerDied(m)) if m.contains("SIGKILL")),
        "{out:?}"
    );
    assert!(
        marker.exists(),
        "the worker died inside the critical section"
    );
    // Released by the time the job's failure is known.
    assert!(!lock.is_locked(), "a dead worker's lock stays held");
    assert_eq!(sem.available(), 1, "a dead worker's slot stays taken");
    assert!(lock.try_acquire().is_some());
    // Its request for `blocker`, if it got to the parent, is withdrawn: no
    // grant to a dead worker once the parent lets go.
    until("the dead worker's request withdrawn", || {
        blocker.waiting() == 0
    });
    drop(held);
    assert!(!blocker.is_locked());
    // A fresh worker uses the same lock.
    let again = lox::process(1, probe);
    again.scatter(lock.clone());
    assert_eq!(again.gather(), vec![(true, true, false)]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn announcement_peers_in_workers() {
    let news = Announcement::<u64>::new();
    let pool = lox::process(2, listener);
    let (a, b) = (news.subscribe().unwrap(), news.subscribe().unwrap());
    assert_eq!(news.subscribers(), 3);
    pool.scatter((a, 3)); // the parent's values are moved into the jobs
    pool.scatter((b, 3));
    for x in [1, 2, 4] {
        news.put(x);
    }
    assert_eq!(pool.gather(), vec![7, 7]);
    // Each worker's put reached the parent's peer (and the other worker's
    // peer, which nobody reads any more).
    let got = [
        news.get_timeout(PATIENCE).unwrap(),
        news.get_timeout(PATIENCE).unwrap(),
    ];
    assert_eq!(got, [7, 7]);
    assert_eq!(news.try_get(), None);
    let pool = lox::process(1, quiet);
    pool.scatter(news.subscribe().unwrap());
    assert_eq!(pool.gather(), vec![(true, true, 0)]);

    // A worker subscribes its own peer to the parent's group.
    let group = Announcement::<String>::new();
    let pool = lox::process(1, subscriber);
    let t = pool.scatter(group.subscribe().unwrap());
    assert_eq!(group.get_timeout(PATIENCE).unwrap(), "joined");
    // parent peer + the job's peer + the worker's own subscription
    assert_eq!(group.subscribers(), 3);
    group.put("welcome".to_owned());
    until("the subscriber job", || t.is_done());
    assert_eq!(pool.gather(), vec![(3, "welcome".to_owned())]);
    // The job is over: its peer and the worker's subscription left the group.
    until("the worker's peers left", || group.subscribers() == 1);
}

fn light_switch_across_workers() {
    let lock = Lock::new(());
    let sw = LightSwitch::new(lock.clone());
    let pool = lox::process(2, switch_job);
    for _ in 0..4 {
        pool.scatter((sw.clone(), lock.clone()));
    }
    for (locked, count) in pool.gather() {
        assert!(locked, "the switch holds the lock while anyone is inside");
        assert!(count >= 1);
    }
    assert_eq!(sw.count(), 0);
    assert!(!lock.is_locked(), "the last one out released the lock");
}

fn async_acquires_in_workers() {
    let lock = Lock::new(());
    let pool = lox::process(2, async_job);
    let held = lock.acquire();
    let waiting = pool.scatter((lock.clone(), 0));
    until("the async waiter queued", || lock.waiting() == 1);
    let dropped = pool.scatter((lock.clone(), 1));
    until("the abandoned acquire", || dropped.is_done());
    until("the abandoned waiter left the queue", || {
        lock.waiting() == 1
    });
    assert!(!waiting.is_done(), "the async waiter waits for the parent");
    drop(held);
    assert_eq!(pool.gather(), vec![1, 0]);
    // Nobody (no ghost of the dropped future) holds it.
    assert!(lock.acquire_timeout(PATIENCE).is_ok());
}

fn handles_come_back_as_the_same_lock() {
    let lock = Lock::new(());
    let pool = lox::process(1, give_back);
    pool.scatter(lock.clone());
    let back = pool.gather().pop().unwrap();
    let _g = back.acquire();
    assert!(lock.is_locked(), "the returned handle is the same lock");
    assert!(lock.try_acquire().is_none());
}

fn idle_worker_threads_are_served() {
    let dir = tmpdir("idle");
    let lock = Lock::new(());
    let pool = lox::process(1, leave_thread);
    pool.scatter((lock.clone(), dir.display().to_string()));
    assert_eq!(pool.gather(), vec![1]);
    // The job is over; its thread asks for the lock now.
    std::fs::write(dir.join("go"), b"").unwrap();
    until("the left-behind thread got the lock", || {
        dir.join("got").exists()
    });
    until("and released it", || !lock.is_locked());
    let _ = std::fs::remove_dir_all(&dir);
}

fn dead_workers_peers_leave_the_group() {
    let group = Announcement::<u64>::new();
    let pool = lox::process(1, wait_forever).job_timeout(Duration::from_millis(500));
    pool.scatter(group.subscribe().unwrap());
    let out = pool.try_gather();
    assert!(matches!(out[0], Err(TaskError::TimedOut(_))), "{out:?}");
    // Its own peer (waiting in a get when it died) and the job's are gone.
    until("the dead worker's peers left", || group.subscribers() == 1);
}

fn a_subscribed_peer_can_be_returned() {
    let group = Announcement::<u64>::new();
    let pool = lox::process(1, subscribe_and_return);
    pool.scatter(group.subscribe().unwrap());
    let mine = pool.gather().pop().unwrap();
    group.put(42);
    assert_eq!(mine.get_timeout(PATIENCE), Ok(42));
    assert_eq!(group.subscribers(), 2, "the parent's and the returned one");
}

fn async_acquires_are_lazy_in_workers() {
    let lock = Lock::new(());
    let pool = lox::process(1, lazy_async);
    pool.scatter(lock.clone());
    assert_eq!(pool.gather(), vec![true]);
    assert!(!lock.is_locked());
    assert_eq!(lock.waiting(), 0);
}

fn abandoned_gets_lose_no_item() {
    let news = Announcement::<u64>::new();
    let pool = lox::process(1, abandon_gets);
    let n = 200;
    pool.scatter((news.subscribe().unwrap(), n));
    for x in 1..=n {
        news.put(x);
    }
    assert_eq!(pool.gather(), vec![n * (n + 1) / 2]);
}

fn an_item_crossing_a_withdrawal_comes_back() {
    let dir = tmpdir("crossing");
    let news = Announcement::<u64>::new();
    let pool = lox::process(1, crossing);
    pool.scatter((news.subscribe().unwrap(), dir.display().to_string()));
    assert_eq!(
        news.get_timeout(PATIENCE),
        Ok(0),
        "the worker's get is pending"
    );
    news.put(99); // taken by the pending get...
    std::fs::write(dir.join("put"), b"").unwrap(); // ...which is then dropped
    assert_eq!(pool.gather(), vec![99]);
    let _ = std::fs::remove_dir_all(&dir);
}

fn returned_peers_survive_abandoned_gets() {
    let group = Announcement::<u64>::new();
    let pool = lox::process(1, subscribe_abandon_return);
    for _ in 0..100 {
        pool.scatter(group.subscribe().unwrap());
    }
    let peers = pool.gather(); // each must decode: still registered
    assert_eq!(peers.len(), 100);
    group.put(5);
    for p in &peers {
        assert_eq!(p.get_timeout(PATIENCE), Ok(5));
    }
}

fn an_item_crossing_into_a_returned_peer_stays() {
    for round in 0..3 {
        let dir = tmpdir(&format!("crossret{round}"));
        let news = Announcement::<u64>::new();
        let pool = lox::process(1, crossing_return);
        pool.scatter((news.subscribe().unwrap(), dir.display().to_string()));
        assert_eq!(
            news.get_timeout(PATIENCE),
            Ok(0),
            "the worker's get is pending"
        );
        news.put(99);
        std::fs::write(dir.join("put"), b"").unwrap();
        let mine = pool.gather().pop().unwrap();
        assert_eq!(mine.get_timeout(PATIENCE), Ok(99), "round {round}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn a_stopped_worker_stalls_no_one_else() {
    let news = Announcement::<Vec<u8>>::new();
    let slow = lox::process(1, stuck);
    slow.scatter(news.subscribe().unwrap());
    let pid = news.get_timeout(PATIENCE).expect("the worker's pid");
    let pid = u32::from_le_bytes(pid.try_into().unwrap()) as libc::pid_t;
    // SAFETY: a signal to our own worker process.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    // An item far bigger than its pipe: its delivery blocks until it runs.
    news.put(vec![7; 4 << 20]);
    // Meanwhile locks work for everyone else.
    let lock = Lock::new(());
    let other = lox::process(1, probe);
    let held = lock.acquire();
    let t = other.scatter(lock.clone());
    until("the other worker's probe", || t.is_done());
    drop(held);
    let other2 = lox::process(1, async_job);
    let held = lock.acquire();
    let t = other2.scatter((lock.clone(), 0));
    until("the other worker queued", || lock.waiting() == 1);
    drop(held);
    until("the other worker got the lock", || t.is_done());
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    assert_eq!(slow.gather(), vec![4 << 20]);
    assert_eq!(other.gather(), vec![(false, false, true)]);
}

/// Fail (and end the run) if a test takes longer than this: a hang is a
/// failure, not a stuck CI.
const TEST_DEADLINE: Duration = Duration::from_secs(180);

fn main() {
    lox::init();
    let tests: &[(&str, fn())] = &[
        ("lock_excludes_across_workers", lock_excludes_across_workers),
        (
            "stress_many_threads_many_processes",
            stress_many_threads_many_processes,
        ),
        (
            "semaphore_indices_across_workers",
            semaphore_indices_across_workers,
        ),
        ("qlock_fifo_across_workers", qlock_fifo_across_workers),
        (
            "rwlock_writer_preference_across_workers",
            rwlock_writer_preference_across_workers,
        ),
        ("timeouts_and_try_in_workers", timeouts_and_try_in_workers),
        (
            "sigkill_mid_critical_section_releases",
            sigkill_mid_critical_section_releases,
        ),
        (
            "announcement_peers_in_workers",
            announcement_peers_in_workers,
        ),
        ("light_switch_across_workers", light_switch_across_workers),
        ("async_acquires_in_workers", async_acquires_in_workers),
        (
            "handles_come_back_as_the_same_lock",
            handles_come_back_as_the_same_lock,
        ),
        (
            "idle_worker_threads_are_served",
            idle_worker_threads_are_served,
        ),
        (
            "dead_workers_peers_leave_the_group",
            dead_workers_peers_leave_the_group,
        ),
        (
            "a_subscribed_peer_can_be_returned",
            a_subscribed_peer_can_be_returned,
        ),
        (
            "async_acquires_are_lazy_in_workers",
            async_acquires_are_lazy_in_workers,
        ),
        ("abandoned_gets_lose_no_item", abandoned_gets_lose_no_item),
        (
            "an_item_crossing_a_withdrawal_comes_back",
            an_item_crossing_a_withdrawal_comes_back,
        ),
        (
            "returned_peers_survive_abandoned_gets",
            returned_peers_survive_abandoned_gets,
        ),
        (
            "an_item_crossing_into_a_returned_peer_stays",
            an_item_crossing_into_a_returned_peer_stays,
        ),
        (
            "a_stopped_worker_stalls_no_one_else",
            a_stopped_worker_stalls_no_one_else,
        ),
    ];
    common::run_tests("process_sync", tests, TEST_DEADLINE);
}
