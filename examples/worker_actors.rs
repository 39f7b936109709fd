//! Worker actors: each worker of a pool owns a state (here an expensive
//! "model") built once by `init(worker_index)`; a job that panics gets its
//! worker a fresh state; `lifespan` retires a state after k jobs; `stats()`
//! says what happened.
//!
//! `cargo run --release --example worker_actors`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lox::TaskError;

// ANCHOR: model
/// Something expensive to build and cheap to use: a model's weights, a
/// database connection, a GPU context.
struct Model {
    weights: Vec<f32>,
    drops: Arc<AtomicUsize>,
}

impl Model {
    fn load(drops: Arc<AtomicUsize>) -> Model {
        std::thread::sleep(Duration::from_millis(50)); // the expensive part
        let weights = (0..1000).map(|i| i as f32 / 1000.0).collect();
        Model { weights, drops }
    }

    fn predict(&mut self, x: u32) -> f32 {
        assert!(x < 1_000_000, "input {x} out of range"); // a bad input panics
        std::thread::sleep(Duration::from_micros(200)); // the forward pass
        self.weights[x as usize % 1000] * 2.0
    }
}

impl Drop for Model {
    // The exit hook: runs on the worker thread when its state goes.
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}
// ANCHOR_END: model

// ANCHOR: macro
struct Tokenizer {
    separators: Vec<char>,
}

fn load_tokenizer(_worker: usize) -> Tokenizer {
    Tokenizer {
        separators: vec![' ', ',', '.'],
    }
}

#[lox::thread(2, init = load_tokenizer)]
fn count_tokens(tok: &mut Tokenizer, text: String) -> usize {
    text.split(&tok.separators[..])
        .filter(|w| !w.is_empty())
        .count()
}
// ANCHOR_END: macro

fn main() {
    // ANCHOR: pool
    let inits = Arc::new(Mutex::new(Vec::new())); // worker indices, one per init
    let drops = Arc::new(AtomicUsize::new(0));
    let (log, d) = (inits.clone(), drops.clone());
    let pool = lox::thread_with(
        4,
        move |worker: usize| {
            log.lock().unwrap().push(worker);
            Model::load(d.clone())
        },
        |model: &mut Model, x: u32| model.predict(x),
    );

    let start = Instant::now();
    let total: f32 = pool.map(0..1000).sum();
    let took = start.elapsed();
    let mut built: Vec<usize> = inits.lock().unwrap().clone();
    built.sort();
    println!(
        "1000 predictions, sum {total:.1}: the model was built {} times, by workers {built:?}",
        built.len()
    );
    println!(
        "(a load takes 50 ms: one per job would take 50 s; this took {} ms)",
        took.as_millis()
    );
    // ANCHOR_END: pool

    // ANCHOR: panic
    println!("\nA bad input (one panic message on stderr is expected):");
    let bad = pool.submit(2_000_000).wait();
    println!("the job: {bad:?}");
    assert!(matches!(bad, Err(TaskError::Panicked(_))));

    // Its worker's model is dropped; the next job on that worker builds a new one.
    let _: Vec<f32> = pool.map(0..100).collect();
    let stats = pool.stats();
    let restarted: Vec<_> = stats
        .per_worker
        .iter()
        .filter(|w| w.restarts == 1)
        .collect();
    assert_eq!(restarted.len(), 1);
    let rebuilt_by = *inits.lock().unwrap().last().unwrap();
    assert_eq!(rebuilt_by, restarted[0].index); // worker i's new state is init(i)'s
    println!(
        "models built: {}, dropped: {}; the new one was built by init(i) for the same worker i",
        inits.lock().unwrap().len(),
        drops.load(Ordering::SeqCst)
    );
    println!(
        "why: {:?}",
        restarted[0].last_restart.as_deref().unwrap_or("?")
    );
    // ANCHOR_END: panic

    // ANCHOR: stats
    let stats = pool.stats();
    let per_worker_jobs: u64 = stats.per_worker.iter().map(|w| w.jobs).sum();
    println!(
        "\nstats: {} workers, {} queued, {} done, {} failed, {} restarts",
        stats.workers, stats.queued, stats.done, stats.failed, stats.restarts
    );
    println!("per worker: jobs add up to {per_worker_jobs}");
    // ANCHOR_END: stats

    // ANCHOR: lifespan
    let built = Arc::new(AtomicUsize::new(0));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (b, d) = (built.clone(), dropped.clone());
    let leaky = lox::thread_with(
        1,
        move |_| {
            b.fetch_add(1, Ordering::SeqCst);
            Model::load(d.clone())
        },
        |model: &mut Model, x: u32| model.predict(x),
    )
    .lifespan(10); // a fresh model every 10 jobs
    for x in 0..25 {
        leaky.scatter(x);
    }
    leaky.gather();
    let w = &leaky.stats().per_worker[0];
    println!(
        "\nlifespan(10), 25 jobs: {} models built, {} dropped, {} restarts ({:?})",
        built.load(Ordering::SeqCst),
        dropped.load(Ordering::SeqCst),
        w.restarts,
        w.last_restart.as_deref().unwrap_or("?")
    );
    drop(leaky); // the last handle: the worker drops its model and exits
    let deadline = Instant::now() + Duration::from_secs(5);
    while dropped.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    println!(
        "after the pool is dropped: {} dropped",
        dropped.load(Ordering::SeqCst)
    );
    // ANCHOR_END: lifespan

    // ANCHOR: macro_use
    let texts = ["one two three", "four, five", "six."].map(String::from);
    let counts: Vec<usize> = count_tokens::map(texts).collect();
    println!("\n#[lox::thread(2, init = load_tokenizer)]: {counts:?}");
    // ANCHOR_END: macro_use
}
