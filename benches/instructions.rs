//! Instruction counts of one uncontended acquire+release, lox against
//! parking_lot, for `valgrind --tool=callgrind` (counts do not move with the
//! machine's load, unlike wall time). Run by `benches/instructions.sh`:
//! each primitive is run with N iterations and with 0, and the difference
//! divided by N is the cost of one acquire+release.
//!
//! `instructions <primitive> <iterations>`; under `cargo bench` (no such
//! arguments) it runs every primitive briefly and prints nothing else.

use std::hint::black_box;

fn run(what: &str, n: u64) {
    match what {
        "lox::Lock" => {
            let l = lox::Lock::new(0u64);
            for _ in 0..n {
                *black_box(&l).acquire() += 1;
            }
        }
        "lox::QLock" => {
            let l = lox::QLock::new(0u64);
            for _ in 0..n {
                *black_box(&l).acquire() += 1;
            }
        }
        "lox::RWLock::read" => {
            let l = lox::RWLock::new(0u64);
            for _ in 0..n {
                black_box(*black_box(&l).read());
            }
        }
        "lox::RWLock::write" => {
            let l = lox::RWLock::new(0u64);
            for _ in 0..n {
                *black_box(&l).write() += 1;
            }
        }
        "lox::IndexSemaphore" => {
            let s = lox::IndexSemaphore::new(4);
            for _ in 0..n {
                black_box(black_box(&s).acquire().index());
            }
        }
        "parking_lot::Mutex" => {
            let l = parking_lot::Mutex::new(0u64);
            for _ in 0..n {
                *black_box(&l).lock() += 1;
            }
        }
        "parking_lot::RwLock::read" => {
            let l = parking_lot::RwLock::new(0u64);
            for _ in 0..n {
                black_box(*black_box(&l).read());
            }
        }
        "parking_lot::RwLock::write" => {
            let l = parking_lot::RwLock::new(0u64);
            for _ in 0..n {
                *black_box(&l).write() += 1;
            }
        }
        other => panic!("unknown primitive {other}"),
    }
}

const ALL: [&str; 8] = [
    "lox::Lock",
    "lox::QLock",
    "lox::RWLock::read",
    "lox::RWLock::write",
    "lox::IndexSemaphore",
    "parking_lot::Mutex",
    "parking_lot::RwLock::read",
    "parking_lot::RwLock::write",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match (
        args.first(),
        args.get(1).and_then(|n| n.parse::<u64>().ok()),
    ) {
        (Some(what), Some(n)) => run(what, n),
        _ => ALL.iter().for_each(|w| run(w, 1000)),
    }
}
