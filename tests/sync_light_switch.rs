//! LightSwitch: first in acquires, last out releases (from any thread),
//! exclusion against direct lock holders, twins.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use lox::{LightSwitch, LightSwitchGuard, Lock, Timeout};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn guard_is_send_static() {
    fn check<T: Send + Sync + 'static>() {}
    fn send<T: Send + 'static>() {}
    send::<LightSwitchGuard>();
    check::<LightSwitch>();
}

#[test]
fn first_in_locks_last_out_unlocks() {
    let lock = Lock::new(());
    let sw = LightSwitch::new(lock.clone());
    assert_eq!(sw.count(), 0);
    let a = sw.acquire();
    assert!(lock.is_locked());
    let b = sw.acquire();
    let c = sw.try_acquire().unwrap();
    assert_eq!(sw.count(), 3);
    drop(a);
    drop(c);
    assert!(lock.is_locked());
    assert_eq!(sw.count(), 1);
    // The last one out leaves on another thread and still turns the light off.
    thread::spawn(move || drop(b)).join().unwrap();
    assert_eq!(sw.count(), 0);
    assert!(!lock.is_locked());
}

#[test]
fn janitor_excludes_and_is_excluded() {
    let lock = Lock::new(());
    let sw = LightSwitch::new(lock.clone());
    let janitor = lock.acquire();
    assert!(sw.try_acquire().is_none());
    assert_eq!(
        sw.acquire_timeout(Duration::from_millis(20)).unwrap_err(),
        Timeout
    );
    let (tx, rx) = mpsc::channel();
    let sw2 = sw.clone();
    let person = thread::spawn(move || {
        let g = sw2.acquire(); // waits for the janitor
        tx.send(()).unwrap();
        g
    });
    assert!(rx.recv_timeout(Duration::from_millis(30)).is_err());
    drop(janitor);
    rx.recv_timeout(LONG).unwrap();
    let g = person.join().unwrap();
    assert!(lock.try_acquire().is_none(), "the person holds the lock");
    drop(g);
    assert!(lock.try_acquire().is_some());
}

#[test]
fn stress_people_and_janitors() {
    let lock = Lock::new(());
    let sw = LightSwitch::new(lock.clone());
    let inside = Arc::new(AtomicUsize::new(0));
    let cleaning = Arc::new(AtomicUsize::new(0));
    let mut threads = Vec::new();
    for t in 0..8 {
        let (sw, lock, inside, cleaning) =
            (sw.clone(), lock.clone(), inside.clone(), cleaning.clone());
        threads.push(thread::spawn(move || {
            for i in 0..1500 {
                if t < 2 && i % 10 == 0 {
                    let _g = lock.acquire();
                    assert_eq!(cleaning.fetch_add(1, Ordering::SeqCst), 0);
                    assert_eq!(
                        inside.load(Ordering::SeqCst),
                        0,
                        "janitor with people inside"
                    );
                    cleaning.fetch_sub(1, Ordering::SeqCst);
                } else {
                    let _g = if i % 2 == 0 {
                        sw.acquire()
                    } else {
                        sw.acquire_timeout(LONG).unwrap()
                    };
                    inside.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(
                        cleaning.load(Ordering::SeqCst),
                        0,
                        "people with the janitor"
                    );
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(sw.count(), 0);
    assert!(!lock.is_locked());
}

#[test]
fn panic_inside_releases() {
    let lock = Lock::new(());
    let sw = LightSwitch::new(lock.clone());
    let sw2 = sw.clone();
    assert!(thread::spawn(move || {
        let _g = sw2.acquire();
        panic!("boom");
    })
    .join()
    .is_err());
    assert_eq!(sw.count(), 0);
    assert!(!lock.is_locked());
}

#[tokio::test(flavor = "current_thread")]
async fn async_waits_for_the_lock_without_blocking() {
    let lock = Lock::new(());
    let sw = LightSwitch::new(lock.clone());
    let janitor = lock.acquire();
    let sw2 = sw.clone();
    let person = tokio::spawn(async move {
        let _g = sw2.acquire_async().await;
        sw2.count()
    });
    tokio::task::yield_now().await;
    drop(janitor);
    assert_eq!(
        tokio::time::timeout(LONG, person).await.unwrap().unwrap(),
        1
    );
    assert!(!lock.is_locked());
    // A dropped async entry withdraws cleanly.
    let janitor = lock.acquire();
    assert!(
        tokio::time::timeout(Duration::from_millis(20), sw.acquire_async())
            .await
            .is_err()
    );
    drop(janitor);
    assert!(sw.try_acquire().is_some());
}

#[actix_rt::test]
async fn async_under_actix_rt() {
    let lock = Lock::new(());
    let sw = LightSwitch::new(lock.clone());
    let a = sw.acquire_async().await;
    let b = sw.acquire_async().await;
    assert_eq!(sw.count(), 2);
    drop(a);
    drop(b);
    assert!(!lock.is_locked());
}
