//! A three-stage pipeline: parse -> calibrate -> summarize, each stage a pool,
//! chained with lazy `map`s whose windows keep memory bounded while results
//! stream out; then a consumer stage fed by `results()`.
//!
//! `cargo run --release --example pipeline`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LINES: usize = 10_000;
const WINDOW: usize = 16; // jobs in flight in each of the first two stages
const CHUNK: usize = 1_000; // readings per summary
const CHUNKS_IN_FLIGHT: usize = 2; // the third stage's window

// ANCHOR: stages
#[derive(Debug, Clone, Copy)]
struct Reading {
    station: u8,
    celsius: f64,
}

/// Stage 1: one CSV line, `station-3,17.5`, into a `Reading`.
fn parse(line: String) -> Reading {
    let (station, value) = line.split_once(',').expect("a comma");
    Reading {
        station: station
            .trim_start_matches("station-")
            .parse()
            .expect("a station number"),
        celsius: value.parse().expect("a temperature"),
    }
}

/// Stage 2: correct a reading by its station's offset (looked up somewhere
/// slow: 100 µs of waiting stands in for it).
fn calibrate(r: Reading) -> Reading {
    std::thread::sleep(Duration::from_micros(100));
    let offset = [0.0, -0.5, 0.25, 1.0, -1.0][r.station as usize];
    Reading {
        celsius: r.celsius + offset,
        ..r
    }
}

#[derive(Debug)]
struct Summary {
    count: usize,
    min: f64,
    max: f64,
    mean: f64,
}

/// Stage 3: one chunk of readings into a summary.
fn summarize(chunk: Vec<Reading>) -> Summary {
    let temps = chunk.iter().map(|r| r.celsius);
    Summary {
        count: chunk.len(),
        min: temps.clone().fold(f64::INFINITY, f64::min),
        max: temps.clone().fold(f64::NEG_INFINITY, f64::max),
        mean: temps.sum::<f64>() / chunk.len() as f64,
    }
}
// ANCHOR_END: stages

// ANCHOR: input
/// The input: CSV lines produced one at a time, as a file reader would.
/// `read` counts the lines taken so far.
fn lines(read: Arc<AtomicUsize>) -> impl Iterator<Item = String> {
    (0..LINES).map(move |i| {
        read.fetch_add(1, Ordering::SeqCst);
        let tenths = (i * i * 31 + i * 7919) % 431; // made-up data, the same every run
        format!("station-{},{:.1}", i % 5, tenths as f64 / 10.0 - 6.0)
    })
}

/// Group an iterator's items into `Vec`s of `n` (the last one may be shorter).
fn chunks<T>(mut it: impl Iterator<Item = T>, n: usize) -> impl Iterator<Item = Vec<T>> {
    std::iter::from_fn(move || {
        let chunk: Vec<T> = it.by_ref().take(n).collect();
        (!chunk.is_empty()).then_some(chunk)
    })
}
// ANCHOR_END: input

fn main() {
    // ANCHOR: pools
    let parser = lox::thread(2, parse);
    let calibrator = lox::thread(4, calibrate);
    let summarizer = lox::thread(2, summarize);
    // ANCHOR_END: pools

    // ANCHOR: chain
    let read = Arc::new(AtomicUsize::new(0));
    let parsed = parser.map(lines(read.clone())).window(WINDOW);
    let calibrated = calibrator.map(parsed).window(WINDOW);
    let summaries = summarizer
        .map(chunks(calibrated, CHUNK))
        .window(CHUNKS_IN_FLIGHT);
    println!(
        "nothing has run yet: {} lines read",
        read.load(Ordering::SeqCst)
    );
    // ANCHOR_END: chain

    // ANCHOR: consume
    let mut summarized = 0;
    let mut most_in_flight = 0;
    for (i, s) in summaries.enumerate() {
        let read_now = read.load(Ordering::SeqCst);
        if i == 0 {
            println!("first summary arrived with {read_now} of {LINES} lines read");
        }
        most_in_flight = most_in_flight.max(read_now - summarized);
        summarized += s.count;
        println!(
            "lines {:>5}..{:<5} min {:>5.1} °C  max {:>5.1} °C  mean {:>5.2} °C",
            summarized - s.count,
            summarized,
            s.min,
            s.max,
            s.mean
        );
    }
    let bound = CHUNKS_IN_FLIGHT * CHUNK + 2 * WINDOW; // the windows
    assert!(most_in_flight <= bound);
    println!("{summarized} lines summarized; at most {most_in_flight} lines were read and not yet summarized (bound {bound})");
    // ANCHOR_END: consume

    // ANCHOR: results
    let alert = lox::thread(2, |r: Reading| {
        format!("station {} read {:.1} °C", r.station, r.celsius)
    });
    let alerts = alert.results(); // from now on, alert's scattered jobs come here
    let producer = std::thread::spawn(move || {
        let read = Arc::new(AtomicUsize::new(0));
        for r in calibrator.map(parser.map(lines(read))) {
            if r.celsius > 37.5 {
                alert.scatter(r);
            }
        }
        // `alert`, the pool's last handle, is dropped here: `alerts` ends.
    });
    let mut got: Vec<String> = alerts.map(|(_seq, outcome)| outcome.unwrap()).collect();
    producer.join().unwrap();
    got.sort(); // results() yields in completion order
    println!(
        "{} alerts above 37.5 °C, the first two sorted: {:?}",
        got.len(),
        &got[..2]
    );
    // ANCHOR_END: results
}
