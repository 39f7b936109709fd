//! A short tour of lox: the first example of the Python docs, the same
//! without the macro, the speed-up on an I/O-bound job, then what a failing
//! job looks like.
//!
//! `cargo run --release --example tour`

use std::time::{Duration, Instant};

// ANCHOR: first
#[lox::thread(4)] // a pool of 4 worker threads
fn multiply(x: u64, y: u64) -> u64 {
    x * y
}
// ANCHOR_END: first

// ANCHOR: io
/// Stands in for a network call: 50 ms of waiting, no CPU.
fn fetch(id: u32) -> String {
    std::thread::sleep(Duration::from_millis(50));
    format!("page {id}")
}

#[lox::thread(20)]
fn fetch_parallel(id: u32) -> String {
    fetch(id)
}
// ANCHOR_END: io

// ANCHOR: scatter
fn main() {
    println!(
        "multiply(3, 4) = {}  (still a plain function)",
        multiply(3, 4)
    );
    for i in 0..5 {
        multiply::scatter(i, i + 1); // returns at once; runs on the pool
    }
    let products = multiply::gather(); // waits; results in scatter order
    println!("gathered: {products:?}");
    assert_eq!(products, vec![0, 2, 6, 12, 20]);
    // ANCHOR_END: scatter

    // ANCHOR: closure
    let pool = lox::thread(4, |(x, y): (u64, u64)| x * y); // any closure
    for i in 0..5 {
        pool.scatter((i, i + 1)); // one argument: a tuple for several
    }
    let products = pool.gather();
    println!("the same with lox::thread(4, closure): {products:?}");
    assert_eq!(products, vec![0, 2, 6, 12, 20]);
    // ANCHOR_END: closure

    // ANCHOR: speedup
    let ids: Vec<u32> = (0..20).collect();

    let start = Instant::now();
    let serial: Vec<String> = ids.iter().map(|&id| fetch(id)).collect();
    let serial_time = start.elapsed();

    let start = Instant::now();
    for &id in &ids {
        fetch_parallel::scatter(id);
    }
    let parallel = fetch_parallel::gather();
    let parallel_time = start.elapsed();

    assert_eq!(serial, parallel);
    println!(
        "20 fetches of 50 ms: serial {:.0} ms, #[lox::thread(20)] {:.0} ms ({:.1}x faster)",
        serial_time.as_secs_f64() * 1e3,
        parallel_time.as_secs_f64() * 1e3,
        serial_time.as_secs_f64() / parallel_time.as_secs_f64()
    );
    // ANCHOR_END: speedup

    // ANCHOR: errors
    // When a job fails: job 2 below panics on purpose. Rust prints the panic
    // ("panicked at examples/tour.rs ... 3 is not allowed"): that is
    // expected, not a crash. The pool goes on, and try_gather reports it.
    println!("\nWhen a job fails (one panic message below is expected):");
    let pool = lox::thread(2, |x: i32| {
        if x == 3 {
            panic!("3 is not allowed") // deliberate
        } else {
            x * 10
        }
    });
    for x in 1..=4 {
        pool.scatter(x);
    }
    for (seq, outcome) in pool.try_gather().into_iter().enumerate() {
        match outcome {
            Ok(v) => println!("job {seq}: {v}"),
            Err(e) => println!("job {seq}: failed: {e}"),
        }
    }
    println!("(the panic above was job 2's, on purpose: the tour is over)");
    // ANCHOR_END: errors
}
