//! Dropping pools: no thread leak, no hang, queued jobs still run.
//! (Its own test binary: it counts the process's threads.)

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{eventually, thread_count};

#[test]
fn thousand_pools_created_and_dropped_leave_no_threads_behind() {
    // Warm up whatever the harness starts lazily.
    drop(lox::thread(1, |x: u8| x));
    let before = thread_count();
    for i in 0..1000u32 {
        let pool = lox::thread(4, |x: u32| x + 1);
        if i % 2 == 0 {
            // Half of them used: workers started, results gathered.
            for j in 0..4 {
                pool.scatter(j);
            }
            assert_eq!(pool.gather(), vec![1, 2, 3, 4]);
        } else {
            // The other half dropped with jobs never gathered.
            pool.scatter(i);
        }
    }
    assert!(
        eventually(Duration::from_secs(60), || thread_count() <= before),
        "threads before: {before}, after: {}",
        thread_count()
    );
}

#[test]
fn dropping_the_last_handle_does_not_wait_and_queued_jobs_still_run() {
    let ran = Arc::new(AtomicUsize::new(0));
    let (go_tx, go_rx) = crossbeam_channel::unbounded::<()>();
    let r2 = ran.clone();
    let pool = lox::thread(2, move |_: u32| {
        go_rx.recv().unwrap();
        r2.fetch_add(1, Ordering::SeqCst);
    });
    for i in 0..10 {
        pool.scatter(i);
    }
    drop(pool); // must return while every job is blocked
    for _ in 0..10 {
        go_tx.send(()).unwrap();
    }
    assert!(eventually(Duration::from_secs(60), || ran
        .load(Ordering::SeqCst)
        == 10));
}
