//! Jobs of one's own: results that belong to the caller, not to the next
//! gather. `submit` and its `Job`, private batches, lazy maps, cancellation
//! and backpressure.
//!
//! `cargo run --release --example own_jobs`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use lox::TaskError;

// ANCHOR: gate
/// A pool of one worker whose job 0 holds that worker until the gate opens:
/// meanwhile every other job stays queued, so we can cancel some of them.
/// The receiver says when job 0 has started.
fn gated_pool() -> (lox::Thread<u32, u32>, mpsc::Sender<()>, mpsc::Receiver<()>) {
    let (open, gate) = mpsc::channel::<()>();
    let (started_tx, started) = mpsc::channel::<()>();
    let (gate, started_tx) = (Mutex::new(gate), Mutex::new(started_tx));
    let pool = lox::thread(1, move |x: u32| {
        if x == 0 {
            started_tx.lock().unwrap().send(()).unwrap();
            let _ = gate.lock().unwrap().recv(); // hold the only worker
        }
        x * 10
    });
    (pool, open, started)
}
// ANCHOR_END: gate

fn main() {
    // ANCHOR: submit
    let square = lox::thread(4, |x: u64| x * x);

    square.scatter(1); // the shared lane: for whoever gathers next
    let a = square.submit(3); // a Job: this result is ours alone
    let b = square.submit(4);
    println!("jobs {} and {}: b.seq() > a.seq()", a.seq(), b.seq());

    println!("gather sees only the scattered job: {:?}", square.gather());
    println!("b.wait() = {:?}", b.wait());
    // A Job is a Future: any executor can await it, no thread blocks for it.
    println!("a.await  = {:?}", futures::executor::block_on(a));
    // ANCHOR_END: submit

    // ANCHOR: timeout
    let slow = lox::thread(1, |ms: u64| {
        std::thread::sleep(Duration::from_millis(ms));
        ms
    });
    let job = slow.submit(300);
    match job.wait_timeout(Duration::from_millis(10)) {
        Err(lox::Timeout) => println!("after 10 ms: not done yet, the job goes on"),
        Ok(outcome) => println!("after 10 ms: {outcome:?} (a very fast machine)"),
    }
    println!(
        "after at most 5 s more: {:?}",
        job.wait_timeout(Duration::from_secs(5))
    );
    // `job` is spent now: a later job.wait() would panic and say so.
    // ANCHOR_END: timeout

    // ANCHOR: batches
    let tenfold = lox::thread(4, |x: u32| x * 10);
    std::thread::scope(|s| {
        for caller in 1..=3u32 {
            let pool = &tenfold;
            s.spawn(move || {
                let mine = pool.batch(); // a private scatter/gather list
                for i in 0..4 {
                    mine.scatter(caller * 100 + i);
                }
                let got = mine.gather(); // mine only, in my scatter order
                assert_eq!(
                    got,
                    (0..4).map(|i| (caller * 100 + i) * 10).collect::<Vec<_>>()
                );
            });
        }
    });
    println!("3 threads, 3 batches, each got exactly its own 4 results");
    println!("the pool's own gather: {:?}", tenfold.gather());
    // ANCHOR_END: batches

    // ANCHOR: maps
    let words = vec![
        "lox".to_string(),
        "scatter".into(),
        "gather".into(),
        "map".into(),
    ];
    let lengths: Vec<usize> = lox::thread(2, |w: String| w.len()).map(words).collect();
    println!("map, input order: {lengths:?}");

    let inverse = lox::thread(2, |x: u32| 100 / x); // 100 / 0 panics
    println!("(one panic message on stderr is expected: 100 / 0)");
    for (x, outcome) in [5, 0, 20].into_iter().zip(inverse.try_map([5, 0, 20])) {
        println!("try_map 100 / {x:<2} -> {outcome:?}");
    }

    let mut done: Vec<u32> = lox::thread(3, |x: u32| x + 1)
        .map_unordered(0..6)
        .map(Result::unwrap) // each outcome as its job finishes
        .collect();
    done.sort(); // completion order varies from run to run
    println!("map_unordered, sorted afterwards: {done:?}");

    // Endless input: only what is taken, plus the window, ever runs.
    let first: Vec<u64> = square.map(0..).window(8).take(5).collect();
    println!("map over 0.. with take(5): {first:?}");
    // ANCHOR_END: maps

    // ANCHOR: cancel
    let (pool, open, started) = gated_pool();
    let running = pool.submit(0); // holds the worker until the gate opens
    started.recv().unwrap(); // job 0 runs: whatever comes next waits
    let queued = pool.submit(1);
    println!("queued.cancel() = {}", queued.cancel());
    println!("queued: {:?}", queued.wait());

    let batch = pool.batch();
    for i in 10..15 {
        batch.scatter(i);
    }
    drop(batch); // its 5 jobs have not started: cancelled, freed now

    for i in 20..23 {
        pool.scatter(i);
    }
    let cancelled = pool.cancel_pending(); // every lane, every caller
    println!("cancel_pending() cancelled {cancelled} scattered jobs");

    open.send(()).unwrap();
    println!("running: {:?}", running.wait()); // started before: it finished
    let outcomes = pool.try_gather();
    assert!(outcomes.iter().all(|o| *o == Err(TaskError::Cancelled)));
    println!("gather: {} outcomes, all Err(Cancelled)", outcomes.len());
    // ANCHOR_END: cancel

    // ANCHOR: backpressure
    let waiting_max = Arc::new(AtomicUsize::new(0));
    let pool = lox::thread(2, |x: u64| {
        std::thread::sleep(Duration::from_millis(1));
        x
    })
    .max_pending(4); // a bounded mailbox: at most 4 jobs waiting to start
    for i in 0..200 {
        pool.scatter(i); // blocks while 4 jobs wait
        waiting_max.fetch_max(pool.len(), Ordering::Relaxed);
    }
    let out = pool.gather();
    assert!(waiting_max.load(Ordering::Relaxed) <= 4);
    println!(
        "scatter: {} results, never more than 4 jobs waiting",
        out.len()
    );

    let total = futures::executor::block_on(async {
        for i in 0..200 {
            pool.scatter_async(i).await; // waits without blocking the executor
        }
        pool.gather_async().await.into_iter().sum::<u64>()
    });
    println!("scatter_async: sum of 0..200 = {total}");
    // ANCHOR_END: backpressure
}
