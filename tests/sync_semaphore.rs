//! IndexSemaphore: distinct indices under stress, bad input, twins.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use lox::{IndexGuard, IndexSemaphore, Timeout};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn guard_is_send_static() {
    fn check<T: Send + 'static>() {}
    check::<IndexGuard>();
    check::<IndexSemaphore>();
}

fn stress(n: usize) {
    let sem = IndexSemaphore::new(n);
    let held: Arc<Vec<AtomicBool>> = Arc::new((0..n).map(|_| AtomicBool::new(false)).collect());
    let total = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (sem, held, total) = (sem.clone(), held.clone(), total.clone());
            thread::spawn(move || {
                for i in 0..2000 {
                    let g = if (t + i) % 2 == 0 {
                        sem.acquire()
                    } else {
                        sem.acquire_timeout(LONG).unwrap()
                    };
                    let idx = g.index();
                    assert!(idx < n);
                    assert!(
                        !held[idx].swap(true, Ordering::SeqCst),
                        "index {idx} handed out twice"
                    );
                    if i % 100 == 0 {
                        thread::yield_now();
                    }
                    held[idx].store(false, Ordering::SeqCst);
                    total.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(total.load(Ordering::SeqCst), 16000);
    assert_eq!(sem.available(), n);
}

#[test]
fn stress_indices_are_never_shared() {
    stress(3);
}

#[test]
fn stress_more_slots_than_the_fast_path_word() {
    stress(100);
}

#[test]
fn indices_cover_0_to_n() {
    let sem = IndexSemaphore::new(70);
    let mut guards: Vec<_> = (0..70).map(|_| sem.try_acquire().unwrap()).collect();
    assert!(sem.try_acquire().is_none());
    assert_eq!(sem.available(), 0);
    let mut idx: Vec<_> = guards.iter().map(IndexGuard::index).collect();
    idx.sort();
    assert_eq!(idx, (0..70).collect::<Vec<_>>());
    let g5 = guards.remove(5);
    let freed = g5.index();
    drop(g5);
    assert_eq!(sem.available(), 1);
    assert_eq!(sem.acquire().index(), freed);
}

#[test]
#[should_panic(expected = "at least one slot")]
fn zero_slots_panics() {
    let _ = IndexSemaphore::new(0);
}

#[test]
fn timeout_and_try_twins() {
    let sem = IndexSemaphore::new(2);
    let a = sem.acquire();
    let b = sem.try_acquire().unwrap();
    assert_ne!(a.index(), b.index());
    assert!(sem.try_acquire().is_none());
    assert_eq!(
        sem.acquire_timeout(Duration::from_millis(20)).unwrap_err(),
        Timeout
    );
    drop(a);
    assert_eq!(sem.available(), 1);
    assert!(sem.acquire_timeout(LONG).is_ok());
}

#[test]
fn timed_out_waiter_is_skipped() {
    let sem = IndexSemaphore::new(1);
    let held = sem.acquire();
    let s2 = sem.clone();
    assert!(
        thread::spawn(move || s2.acquire_timeout(Duration::from_millis(30)).is_err())
            .join()
            .unwrap()
    );
    drop(held);
    assert_eq!(sem.available(), 1);
}

#[test]
fn guard_dropped_on_another_thread_and_panics_release() {
    let sem = IndexSemaphore::new(1);
    let g = sem.acquire();
    thread::spawn(move || drop(g)).join().unwrap();
    assert_eq!(sem.available(), 1);
    let s2 = sem.clone();
    assert!(thread::spawn(move || {
        let _g = s2.acquire();
        panic!("boom");
    })
    .join()
    .is_err());
    assert_eq!(sem.available(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_under_tokio() {
    let sem = IndexSemaphore::new(2);
    let inside = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (sem, inside) = (sem.clone(), inside.clone());
            tokio::spawn(async move {
                for _ in 0..200 {
                    let g = sem.acquire_async().await;
                    assert!(inside.fetch_add(1, Ordering::SeqCst) < 2);
                    assert!(g.index() < 2);
                    tokio::task::yield_now().await;
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(sem.available(), 2);
}

#[actix_rt::test]
async fn async_under_actix_rt() {
    let sem = IndexSemaphore::new(1);
    let g = sem.acquire_async().await;
    let s2 = sem.clone();
    let t = actix_rt::spawn(async move { s2.acquire_async().await.index() });
    actix_rt::task::yield_now().await;
    drop(g);
    assert_eq!(t.await.unwrap(), 0);
    assert_eq!(sem.available(), 1);
}
