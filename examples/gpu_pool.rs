//! Sharing N resources between many threads with an `IndexSemaphore`: the GPU
//! pool of the Python lox docs. Each job borrows one of `N_GPUS` devices; the
//! index tells it which one, and no two jobs ever hold the same device.
//!
//! `cargo run --release --example gpu_pool`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

const N_GPUS: usize = 4;

// ANCHOR: devices
/// The devices: one flag per GPU says whether a job is using it right now.
fn in_use() -> &'static [AtomicBool; N_GPUS] {
    static IN_USE: OnceLock<[AtomicBool; N_GPUS]> = OnceLock::new();
    IN_USE.get_or_init(Default::default)
}

fn gpus() -> &'static lox::IndexSemaphore {
    static GPUS: OnceLock<lox::IndexSemaphore> = OnceLock::new();
    GPUS.get_or_init(|| lox::IndexSemaphore::new(N_GPUS))
}
// ANCHOR_END: devices

// ANCHOR: job
#[lox::thread(N_GPUS * 3)] // more threads than GPUs: some wait for a device
fn process_batch(batch: u32) -> (u32, usize) {
    let gpu = gpus().acquire(); // blocks until a device is free
    let index = gpu.index();
    let was_busy = in_use()[index].swap(true, Ordering::SeqCst);
    assert!(!was_busy, "GPU {index} handed to two jobs at once");
    std::thread::sleep(Duration::from_millis(20)); // "run the model on GPU `index`"
    in_use()[index].store(false, Ordering::SeqCst);
    (batch, index)
    // `gpu` drops here: the device goes back to the pool
}
// ANCHOR_END: job

fn main() {
    // ANCHOR: scatter
    for batch in 0..24 {
        process_batch::scatter(batch);
    }
    let done = process_batch::gather();
    // ANCHOR_END: scatter
    // ANCHOR: report
    for (batch, gpu) in &done {
        println!("batch {batch:2} ran on GPU {gpu}");
    }
    assert_eq!(done.len(), 24);
    assert!(done.iter().all(|&(_, gpu)| gpu < N_GPUS));
    assert_eq!(gpus().available(), N_GPUS, "every device is back");
    // ANCHOR_END: report
}
