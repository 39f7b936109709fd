//! QLock: strict FIFO, timed-out and dropped waiters leave the queue (the
//! Python lox bug), async twins.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use lox::{QLock, QLockGuard, Timeout};

const LONG: Duration = Duration::from_secs(30);

fn wait_until(mut done: impl FnMut() -> bool) {
    while !done() {
        thread::yield_now();
    }
}

fn wait_for_waiting<T>(q: &QLock<T>, n: usize) {
    while q.waiting() != n {
        thread::yield_now();
    }
}

#[test]
fn guards_are_send_static() {
    fn check<T: Send + 'static>() {}
    check::<QLockGuard<Vec<u8>>>();
    check::<QLock<Vec<u8>>>();
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let q = QLock::new(Vec::new());
    let held = q.acquire();
    let mut threads = Vec::new();
    for i in 0..8 {
        let q2 = q.clone();
        threads.push(thread::spawn(move || q2.acquire().push(i)));
        wait_for_waiting(&q, i + 1); // thread i is queued before thread i+1 starts
    }
    assert_eq!(q.waiting(), 8);
    assert!(q.is_locked());
    drop(held);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(*q.acquire(), (0..8).collect::<Vec<_>>());
    assert_eq!(q.waiting(), 0);
}

#[test]
fn a_late_try_acquire_never_jumps_the_queue() {
    let q = QLock::new(());
    let held = q.acquire();
    let (got_tx, got_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let q2 = q.clone();
    let waiter = thread::spawn(move || {
        let g = q2.acquire();
        got_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        drop(g);
    });
    wait_for_waiting(&q, 1);
    drop(held);
    // The release handed the lock straight to the queued waiter.
    assert!(q.is_locked());
    assert!(q.try_acquire().is_none());
    got_rx.recv_timeout(LONG).unwrap();
    go_tx.send(()).unwrap();
    waiter.join().unwrap();
    assert!(!q.is_locked());
}

/// Python lox 1.0's QLock removes the wrong object on timeout, and the next
/// release can be lost. Here: holder H, waiters A (times out) and B (blocks).
#[test]
fn timed_out_waiter_is_skipped_and_no_release_is_lost() {
    let q = QLock::new(Vec::new());
    let held = q.acquire();
    let a = {
        let q = q.clone();
        thread::spawn(move || q.acquire_timeout(Duration::from_millis(300)).map(|_| ()))
    };
    // (if A timed out already, it is not queued any more)
    wait_until(|| q.waiting() == 1 || a.is_finished());
    let b = {
        let q = q.clone();
        thread::spawn(move || q.acquire().push("b"))
    };
    wait_until(|| q.waiting() == 2 || (a.is_finished() && q.waiting() == 1));
    assert_eq!(a.join().unwrap(), Err(Timeout));
    assert_eq!(q.waiting(), 1, "the timed-out waiter left the queue");
    drop(held); // must go to B, not to the departed A
    b.join().unwrap();
    assert!(!q.is_locked(), "B released: the lock is free, not lost");
    assert_eq!(*q.acquire_timeout(LONG).unwrap(), vec!["b"]);
}

#[test]
fn timeout_in_the_middle_of_the_queue_keeps_order() {
    let q = QLock::new(Vec::new());
    let held = q.acquire();
    let mut threads = Vec::new();
    for i in 0..5 {
        let q2 = q.clone();
        threads.push(thread::spawn(move || {
            if i == 2 {
                q2.acquire_timeout(Duration::from_millis(300)).is_ok()
            } else {
                q2.acquire().push(i);
                true
            }
        }));
        wait_until(|| {
            let gone = usize::from(i >= 2 && threads[2].is_finished());
            q.waiting() + gone == i + 1
        });
    }
    let gave_up = threads.remove(2);
    assert!(!gave_up.join().unwrap());
    wait_for_waiting(&q, 4);
    drop(held);
    for t in threads {
        assert!(t.join().unwrap());
    }
    assert_eq!(*q.acquire(), vec![0, 1, 3, 4]);
}

#[test]
fn try_twin() {
    let q = QLock::new(3);
    let g = q.try_acquire().unwrap();
    assert!(q.try_acquire().is_none());
    drop(g);
    assert_eq!(*q.try_acquire().unwrap(), 3);
}

#[test]
fn panic_while_holding_releases() {
    let q = QLock::new(());
    let q2 = q.clone();
    assert!(thread::spawn(move || {
        let _g = q2.acquire();
        panic!("boom");
    })
    .join()
    .is_err());
    assert!(!q.is_locked());
}

#[tokio::test(flavor = "current_thread")]
async fn dropped_async_waiter_is_skipped() {
    let q = QLock::new(Vec::new());
    let held = q.acquire();
    // First in line: an async waiter that is dropped.
    assert!(
        tokio::time::timeout(Duration::from_millis(20), q.acquire_async())
            .await
            .is_err()
    );
    assert_eq!(q.waiting(), 0);
    let q2 = q.clone();
    let b = tokio::spawn(async move { q2.acquire_async().await.push("b") });
    while q.waiting() == 0 {
        tokio::task::yield_now().await;
    }
    drop(held);
    tokio::time::timeout(LONG, b).await.unwrap().unwrap();
    assert!(!q.is_locked());
    assert_eq!(*q.acquire_async().await, vec!["b"]);
}

#[actix_rt::test]
async fn async_fifo_under_actix_rt() {
    let q = QLock::new(Vec::new());
    let held = q.acquire();
    let mut tasks = Vec::new();
    for i in 0..4 {
        let q2 = q.clone();
        tasks.push(actix_rt::spawn(
            async move { q2.acquire_async().await.push(i) },
        ));
        while q.waiting() != i + 1 {
            actix_rt::task::yield_now().await;
        }
    }
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*q.acquire_async().await, vec![0, 1, 2, 3]);
}
