//! Async waits start no thread: `gather_async` and `gather_stream` register
//! wakers, and a dropped stream leaves nothing behind. (Its own test binary,
//! one test: it counts the process's threads.)

mod common;

use std::future::Future;
use std::pin::{pin, Pin};
use std::task::Context;
use std::time::Duration;

use common::thread_count;
use futures::task::noop_waker_ref;
use futures::Stream;

const DEADLINE: Duration = Duration::from_secs(60);

/// A pool of one worker whose job `0` waits for `go`; returns once it runs.
fn blocked_pool() -> (lox::Thread<u32, u32>, crossbeam_channel::Sender<()>) {
    let (started_tx, started_rx) = crossbeam_channel::unbounded::<()>();
    let (go_tx, go_rx) = crossbeam_channel::unbounded::<()>();
    let pool = lox::thread(1, move |x: u32| {
        if x == 0 {
            started_tx.send(()).unwrap();
            go_rx.recv().unwrap();
        }
        x + 1
    });
    pool.scatter(0);
    pool.scatter(1);
    started_rx.recv_timeout(DEADLINE).unwrap();
    (pool, go_tx)
}

fn dropped_stream_leaves_no_thread() {
    let (pool, go) = blocked_pool();
    let before = thread_count();
    let mut stream = pool.gather_stream();
    let mut cx = Context::from_waker(noop_waker_ref());
    assert!(Pin::new(&mut stream).poll_next(&mut cx).is_pending());
    assert_eq!(thread_count(), before, "a pending stream started a thread");
    drop(stream);
    assert_eq!(thread_count(), before);
    go.send(()).unwrap();
    assert_eq!(
        pool.gather(),
        Vec::<u32>::new(),
        "the stream took both jobs"
    );
}

fn gather_async_on_a_current_thread_runtime_starts_no_thread() {
    let (pool, go) = blocked_pool();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let before = thread_count();
    let out = rt.block_on(async {
        let mut gather = pin!(pool.gather_async());
        let mut cx = Context::from_waker(noop_waker_ref());
        assert!(gather.as_mut().poll(&mut cx).is_pending());
        assert_eq!(thread_count(), before, "a pending gather started a thread");
        // Released by a task of this very runtime: a gather that blocked
        // the executor thread would never let it run.
        tokio::spawn(async move { go.send(()).unwrap() });
        tokio::select! {
            biased; // past the deadline, fail even if the outcomes are there
            _ = tokio::time::sleep(DEADLINE) => panic!("the gather was never woken"),
            out = gather => out,
        }
    });
    assert_eq!(out, vec![1, 2]);
}

fn jobs_awaited_on_a_current_thread_runtime_start_no_thread() {
    let (pool, go) = blocked_pool();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let before = thread_count();
    let out = rt.block_on(async {
        // 100 jobs queued behind the held one, each awaited by its own task.
        let tasks: Vec<_> = (10..110)
            .map(|i| {
                let job = pool.submit(i);
                tokio::spawn(job)
            })
            .collect();
        tokio::task::yield_now().await; // every task has polled its job once
        assert_eq!(thread_count(), before, "a pending Job started a thread");
        tokio::spawn(async move { go.send(()).unwrap() });
        let all = futures::future::join_all(tasks);
        tokio::select! {
            biased;
            _ = tokio::time::sleep(DEADLINE) => panic!("a job's task was never woken"),
            out = all => out,
        }
    });
    let out: Vec<u32> = out.into_iter().map(|r| r.unwrap().unwrap()).collect();
    assert_eq!(out, (11..111).collect::<Vec<_>>());
}

#[test]
fn async_waits_start_no_thread() {
    dropped_stream_leaves_no_thread();
    gather_async_on_a_current_thread_runtime_starts_no_thread();
    jobs_awaited_on_a_current_thread_runtime_start_no_thread();
}
