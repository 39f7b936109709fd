//! The generated module's second-wave functions: jobs of one's own (`submit`,
//! `batch`, the maps, `results`, `scatter_async`, `cancel_pending`) and worker
//! actors (`init = path` with a first parameter `&mut S`, `lifespan`,
//! `max_pending`, and for processes `retries` and `job_timeout`).
//!
//! Each test has functions of its own: every function is one pool, shared by
//! the tests that run at the same time.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use lox::TaskError;

#[lox::thread(2)]
fn square(x: u64) -> u64 {
    x * x
}

#[lox::thread(2)]
fn add(a: u32, b: u32) -> u32 {
    a + b
}

#[lox::thread(2)]
fn seven() -> u8 {
    7
}

#[lox::thread(2)]
fn checked(x: u32) -> u32 {
    assert!(x != 3, "x was three");
    x
}

#[test]
fn submit_is_a_job_of_ones_own() {
    let job = add::submit(1, 2);
    add::scatter(10, 20);
    assert_eq!(job.wait(), Ok(3));
    assert_eq!(add::gather(), vec![30], "a gather takes no submitted job");
    let job = seven::submit();
    assert_eq!(futures::executor::block_on(job), Ok(7));
    let job: lox::Job<u32> = checked::submit(3);
    assert_eq!(job.wait(), Err(TaskError::Panicked("x was three".into())));
}

#[test]
fn a_batch_gathers_its_own_jobs() {
    let batch: lox::Batch<(u32, u32), u32> = add::batch();
    batch.scatter((1, 1));
    batch.scatter((2, 2));
    assert_eq!(batch.gather(), vec![2, 4]);
}

#[test]
fn maps_take_the_argument_type() {
    let squares: Vec<u64> = square::map(0..5).collect();
    assert_eq!(squares, vec![0, 1, 4, 9, 16]);
    let sums: Vec<u32> = add::map(vec![(1, 2), (3, 4)]).collect();
    assert_eq!(sums, vec![3, 7]);
    let sevens: Vec<u8> = seven::map(vec![(); 3]).collect();
    assert_eq!(sevens, vec![7, 7, 7]);

    let tried: Vec<_> = checked::try_map(1..5).collect();
    assert_eq!(tried[1], Ok(2));
    assert_eq!(tried[2], Err(TaskError::Panicked("x was three".into())));

    let mut unordered: Vec<u64> = square::map_unordered(vec![3, 1, 2])
        .map(Result::unwrap)
        .collect();
    unordered.sort();
    assert_eq!(unordered, vec![1, 4, 9]);

    let windowed: Vec<u64> = square::map(0..10).window(2).collect();
    assert_eq!(windowed.len(), 10);
}

#[lox::thread(2)]
fn streamed(x: u64) -> u64 {
    x + 100
}

#[test]
fn streams_and_async_scatter() {
    let inputs = futures::stream::iter(vec![1, 2, 3]);
    let out: Vec<_> = futures::executor::block_on(streamed::map_stream(inputs).collect());
    assert_eq!(out, vec![Ok(101), Ok(102), Ok(103)]);

    let ticket = futures::executor::block_on(streamed::scatter_async(4));
    assert_eq!(ticket.seq(), 0);
    assert_eq!(streamed::gather(), vec![104]);
}

#[lox::thread(2)]
fn reported(x: u32) -> u32 {
    x * 10
}

#[lox::thread(2)]
fn reported_async(x: u32) -> u32 {
    x * 10
}

#[test]
fn results_take_over_the_scatter_lane() {
    let results: lox::Results<u32> = reported::results();
    reported::scatter(1);
    reported::scatter(2);
    let mut got: Vec<u32> = results.take(2).map(|(_, r)| r.unwrap()).collect();
    got.sort();
    assert_eq!(got, vec![10, 20]);

    let stream = reported_async::results_stream();
    reported_async::scatter(3);
    let got: Vec<_> = futures::executor::block_on(stream.take(1).collect::<Vec<_>>());
    assert_eq!(got, vec![(0, Ok(30))]);
}

#[lox::thread(1)]
fn idle(x: u32) -> u32 {
    x
}

#[test]
fn cancel_pending_with_nothing_pending() {
    assert_eq!(idle::cancel_pending(), 0);
    assert_eq!(idle::stats().queued, 0);
}

/// Built once per worker, on the worker; not `Send` (an `Rc`).
struct Model {
    worker: usize,
    jobs: Rc<RefCell<usize>>,
}

static BUILT: AtomicUsize = AtomicUsize::new(0);

fn load_model(worker: usize) -> Model {
    BUILT.fetch_add(1, Ordering::SeqCst);
    Model {
        worker,
        jobs: Rc::new(RefCell::new(0)),
    }
}

#[lox::thread(2, init = load_model, max_pending = 16)]
fn embed(model: &mut Model, text: String) -> (usize, usize) {
    *model.jobs.borrow_mut() += 1;
    (model.worker, text.len())
}

#[test]
fn worker_state_from_init() {
    let mut mine = load_model(7);
    assert_eq!(embed(&mut mine, "abc".into()), (7, 3), "a plain call");
    let pool: &'static lox::Thread<String, (usize, usize)> = embed::pool();
    assert_eq!(pool.n_workers(), 2);
    for word in ["a", "bb", "ccc", "dddd"] {
        embed::scatter(word.to_string());
    }
    let out = embed::gather();
    assert_eq!(
        out.iter().map(|o| o.1).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(
        out.iter().all(|o| o.0 < 2),
        "worker indices are in 0..2: {out:?}"
    );
}

static BUILT_SHORT: AtomicUsize = AtomicUsize::new(0);

fn fresh_counter(_worker: usize) -> usize {
    BUILT_SHORT.fetch_add(1, Ordering::SeqCst);
    0
}

#[lox::thread(1, init = fresh_counter, lifespan = 2)]
fn short_lived(jobs: &mut usize) -> usize {
    *jobs += 1;
    *jobs
}

#[test]
fn lifespan_rebuilds_the_state() {
    let seen: Vec<usize> = (0..6)
        .map(|_| short_lived::submit().wait().unwrap())
        .collect();
    assert_eq!(seen, vec![1, 2, 1, 2, 1, 2]);
    assert!(BUILT_SHORT.load(Ordering::SeqCst) >= 3);
}

fn open_tally(worker: usize) -> Vec<u64> {
    vec![worker as u64]
}

#[lox::process(2, init = open_tally, lifespan = 100, retries = 1, job_timeout = Duration::from_secs(60))]
fn tally(seen: &mut Vec<u64>, x: u64) -> usize {
    seen.push(x);
    seen.len()
}

#[test]
fn worker_state_in_processes() {
    lox::init();
    let mut mine = open_tally(0);
    assert_eq!(tally(&mut mine, 5), 2, "a plain call");
    let pool: &'static lox::Process<u64, usize> = tally::pool();
    assert_eq!(pool.n_workers(), 2);
    let lens: Vec<usize> = tally::map(0..20).collect();
    // Each worker's state starts as `[worker]` and grows by one per job: every
    // length is in 2..=21, and no length is seen more than once per worker.
    assert!(lens.iter().all(|&n| (2..=21).contains(&n)), "{lens:?}");
    for n in 2..=21 {
        assert!(lens.iter().filter(|&&m| m == n).count() <= 2, "{lens:?}");
    }
}
