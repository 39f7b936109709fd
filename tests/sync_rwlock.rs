//! RWLock: readers share, writers exclude, a waiting writer blocks new
//! readers, timed-out writers let readers in, no starvation, twins, async.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use lox::{RWLock, ReadGuard, Timeout, WriteGuard};

mod common;

const LONG: Duration = Duration::from_secs(30);

fn wait_for_waiting<T>(l: &RWLock<T>, n: usize) {
    while l.waiting() != n {
        thread::yield_now();
    }
}

#[test]
fn guards_are_send_static() {
    fn check<T: Send + 'static>() {}
    check::<ReadGuard<Vec<u8>>>();
    check::<WriteGuard<Vec<u8>>>();
    check::<RWLock<Vec<u8>>>();
}

#[test]
fn stress_never_a_writer_with_readers() {
    let l = RWLock::new(0u64);
    let readers = Arc::new(AtomicUsize::new(0));
    let writers = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (l, readers, writers) = (l.clone(), readers.clone(), writers.clone());
            thread::spawn(move || {
                for i in 0..2000 {
                    if (t + i) % 4 == 0 {
                        let mut g = if i % 2 == 0 {
                            l.write()
                        } else {
                            l.write_timeout(LONG).unwrap()
                        };
                        assert_eq!(writers.fetch_add(1, Ordering::SeqCst), 0, "two writers");
                        assert_eq!(readers.load(Ordering::SeqCst), 0, "writer with readers");
                        *g += 1;
                        writers.fetch_sub(1, Ordering::SeqCst);
                    } else {
                        let g = if i % 2 == 0 {
                            l.read()
                        } else {
                            l.read_timeout(LONG).unwrap()
                        };
                        readers.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(writers.load(Ordering::SeqCst), 0, "reader with a writer");
                        let _ = *g;
                        readers.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*l.read(), 4000); // 8 threads x 2000, every 4th a write
    assert_eq!(l.readers(), 0);
}

#[test]
fn a_waiting_writer_blocks_new_readers() {
    let l = RWLock::new(Vec::new());
    let r1 = l.read();
    let (tx, rx) = mpsc::channel();
    let l2 = l.clone();
    let writer = thread::spawn(move || {
        l2.write().push("w");
        tx.send(()).unwrap();
    });
    wait_for_waiting(&l, 1);
    // A writer waits: new readers queue behind it.
    assert!(l.try_read().is_none());
    assert_eq!(
        l.read_timeout(Duration::from_millis(20)).unwrap_err(),
        Timeout
    );
    let l3 = l.clone();
    let late_reader = thread::spawn(move || l3.read().clone());
    wait_for_waiting(&l, 2);
    assert_eq!(l.readers(), 1);
    drop(r1);
    rx.recv_timeout(LONG).unwrap();
    writer.join().unwrap();
    // The reader that came after the writer saw its write.
    assert_eq!(late_reader.join().unwrap(), vec!["w"]);
}

#[test]
fn queued_readers_enter_together() {
    let l = RWLock::new(());
    let w = l.write();
    let (tx, rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Arc::new(std::sync::Mutex::new(go_rx));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (l, tx, go_rx) = (l.clone(), tx.clone(), go_rx.clone());
            thread::spawn(move || {
                let _g = l.read();
                tx.send(()).unwrap();
                go_rx.lock().unwrap().recv().unwrap();
            })
        })
        .collect();
    wait_for_waiting(&l, 3);
    drop(w);
    for _ in 0..3 {
        rx.recv_timeout(LONG).unwrap(); // all three inside at once
    }
    assert_eq!(l.readers(), 3);
    for _ in 0..3 {
        go_tx.send(()).unwrap();
    }
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(l.readers(), 0);
}

#[test]
fn a_timed_out_writer_lets_queued_readers_in() {
    let l = RWLock::new(());
    let r = l.read();
    let l2 = l.clone();
    let writer = thread::spawn(move || l2.write_timeout(Duration::from_millis(300)).map(|_| ()));
    while l.waiting() != 1 && !writer.is_finished() {
        thread::yield_now();
    }
    let l3 = l.clone();
    let reader = thread::spawn(move || l3.read_timeout(LONG).map(|_| ()));
    // (on a very slow machine the writer may have given up already; the reader
    // then enters directly)
    while l.waiting() != 2 && !writer.is_finished() {
        thread::yield_now();
    }
    assert_eq!(writer.join().unwrap(), Err(Timeout));
    // The writer's departure let the reader behind it in, though r still reads.
    assert_eq!(reader.join().unwrap(), Ok(()));
    assert_eq!(l.waiting(), 0);
    drop(r);
    assert!(l.try_write().is_some());
}

#[test]
fn try_twins_and_panics() {
    let l = RWLock::new(1);
    let w = l.try_write().unwrap();
    assert!(l.try_read().is_none());
    assert!(l.try_write().is_none());
    drop(w);
    let r = l.try_read().unwrap();
    assert!(l.try_write().is_none());
    assert_eq!(
        l.write_timeout(Duration::from_millis(10)).unwrap_err(),
        Timeout
    );
    drop(r);
    let l2 = l.clone();
    assert!(thread::spawn(move || {
        let _w = l2.write();
        panic!("boom");
    })
    .join()
    .is_err());
    let l2 = l.clone();
    assert!(thread::spawn(move || {
        let _r = l2.read();
        panic!("boom");
    })
    .join()
    .is_err());
    assert_eq!(l.readers(), 0);
    assert!(l.try_write().is_some());
}

#[test]
fn guards_dropped_on_other_threads() {
    let l = RWLock::new(0);
    let mut w = l.write();
    *w = 9;
    thread::spawn(move || drop(w)).join().unwrap();
    let r = l.read();
    thread::spawn(move || assert_eq!(*r, 9)).join().unwrap();
    assert_eq!(l.readers(), 0);
    assert!(l.try_write().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_under_tokio() {
    let l = RWLock::new(0u32);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let l = l.clone();
            tokio::spawn(async move {
                for i in 0..200 {
                    if (t + i) % 3 == 0 {
                        *l.write_async().await += 1;
                    } else {
                        let g = l.read_async().await;
                        tokio::task::yield_now().await;
                        drop(g);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let expected: u32 = (0..8u32)
        .map(|t| (0..200u32).filter(|i| (t + i) % 3 == 0).count() as u32)
        .sum();
    assert_eq!(*l.read_async().await, expected);
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_async_writer_leaves_the_queue() {
    let l = RWLock::new(());
    let r = l.read();
    assert!(
        tokio::time::timeout(Duration::from_millis(20), l.write_async())
            .await
            .is_err()
    );
    assert_eq!(l.waiting(), 0);
    assert!(l.try_read().is_some(), "no phantom writer blocks readers");
    drop(r);
    assert!(l.try_write().is_some());
}

#[actix_rt::test]
async fn async_under_actix_rt() {
    let l = RWLock::new(String::from("a"));
    let w = l.write_async().await;
    let l2 = l.clone();
    let t = actix_rt::spawn(async move { l2.read_async().await.clone() });
    actix_rt::task::yield_now().await;
    let mut w = w;
    w.push('b');
    drop(w);
    assert_eq!(t.await.unwrap(), "ab");
}

struct Tracked(Arc<AtomicUsize>);
impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn readers_outliving_every_handle_free_the_value_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let l = RWLock::new(Tracked(drops.clone()));
    let readers: Vec<_> = (0..4).map(|_| l.read()).collect();
    drop(l);
    let threads: Vec<_> = readers
        .into_iter()
        .map(|r| thread::spawn(move || drop(r)))
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(drops.load(Ordering::SeqCst), 1);

    let l = RWLock::new(Tracked(drops.clone()));
    let w = l.write();
    drop(l);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(w);
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn a_writer_is_not_starved_by_readers_reacquiring() {
    let l = RWLock::new(0u64);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (l, stop, reads) = (l.clone(), stop.clone(), reads.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let g = l.read();
                    reads.fetch_add(1, Ordering::Relaxed);
                    // Overlap with the other readers: the lock is never free.
                    thread::yield_now();
                    drop(g);
                }
            })
        })
        .collect();
    while reads.load(Ordering::Relaxed) < 1000 {
        thread::yield_now();
    }
    for _ in 0..20 {
        *l.write_timeout(LONG).expect("writer starved by readers") += 1;
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(*l.read(), 20);
}

#[test]
fn a_writer_is_not_starved_by_barging_writers() {
    let l = RWLock::new(0u64);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammers: Vec<_> = (0..4)
        .map(|_| {
            let (l, stop) = (l.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    *l.write() += 1;
                }
            })
        })
        .collect();
    for _ in 0..50 {
        drop(l.write_timeout(LONG).expect("writer starved by writers"));
        let _r = l.read_timeout(LONG).expect("reader starved by writers");
    }
    stop.store(true, Ordering::SeqCst);
    for h in hammers {
        h.join().unwrap();
    }
    assert_eq!(l.waiting(), 0);
}

/// The last two handles dropped at once on two threads while a reader is
/// inside, and a pending async write (holding a third handle) dropped on a
/// third: exactly one drop of the value, after the reader leaves.
#[test]
fn last_handles_dropped_at_once_with_a_reader_inside() {
    let drops = Arc::new(AtomicUsize::new(0));
    for round in 0..2000 {
        let lock = RWLock::new(Tracked(drops.clone()));
        let reader = lock.read();
        let other = lock.clone();
        let pending = Box::pin(lock.write_async());
        common::drop_at_once(lock, other, pending);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            round,
            "round {round}: the value was dropped under its reader"
        );
        drop(reader);
        assert_eq!(drops.load(Ordering::SeqCst), round + 1, "round {round}");
    }
}
