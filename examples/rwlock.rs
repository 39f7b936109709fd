//! `RWLock`: one writer, many readers. Readers share the lock; the writer gets
//! it alone, and a waiting writer keeps new readers out, so it never starves.
//!
//! `cargo run --release --example rwlock`

use std::time::Duration;

// ANCHOR: lock
fn main() {
    let config = lox::RWLock::new(vec![String::from("v1")]);
    // ANCHOR_END: lock

    // ANCHOR: readers
    let readers = {
        let config = config.clone();
        lox::thread(8, move |reader: u32| {
            let mut seen = Vec::new();
            for _ in 0..5 {
                let current = config.read(); // shared with the other readers
                seen.push(current.last().unwrap().clone());
                drop(current);
                std::thread::sleep(Duration::from_millis(2));
            }
            (reader, seen)
        })
    };
    for r in 0..8 {
        readers.scatter(r);
    }
    // ANCHOR_END: readers

    // ANCHOR: writer
    for version in 2..=4 {
        std::thread::sleep(Duration::from_millis(3));
        let mut current = config.write(); // alone: no reader is inside now
        assert_eq!(config.readers(), 0);
        current.push(format!("v{version}"));
        println!("writer published v{version}");
    }
    // ANCHOR_END: writer

    // ANCHOR: gather
    for (reader, seen) in readers.gather() {
        println!("reader {reader} saw {seen:?}");
        // A reader only ever sees versions in order.
        assert!(seen.windows(2).all(|w| w[0] <= w[1]));
    }
    assert_eq!(*config.read(), ["v1", "v2", "v3", "v4"]);
}
// ANCHOR_END: gather
