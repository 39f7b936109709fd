//! A progress bar on gather: `gather_with(true)` is Python lox's
//! `gather(tqdm=True)`; pass your own `indicatif::ProgressBar` to style it.
//!
//! `cargo run --release --example progress`

use std::time::Duration;

use lox::indicatif::{ProgressBar, ProgressStyle};

// ANCHOR: job
#[lox::thread(8)]
fn crunch(i: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(10));
    i * i
}
// ANCHOR_END: job

fn main() {
    // ANCHOR: default
    for i in 0..100 {
        crunch::scatter(i);
    }
    let squares = crunch::gather_with(true); // a default bar on stderr
    assert_eq!(squares.len(), 100);
    // ANCHOR_END: default

    // ANCHOR: custom
    let bar = ProgressBar::no_length().with_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len}")
            .unwrap()
            .progress_chars("=> "),
    );
    bar.set_message("crunching");
    for i in 0..50 {
        crunch::scatter(i);
    }
    let again = crunch::gather_with(bar.clone()); // length set to 50: it had none
    assert_eq!((bar.position(), bar.length()), (50, Some(50)));
    // Your bar: you finish it.
    bar.finish_with_message("done");
    // ANCHOR_END: custom

    // ANCHOR: report
    println!("sum of squares below 100: {}", squares.iter().sum::<u64>());
    println!("first of the second round: {:?}", &again[..3]);
}
// ANCHOR_END: report
