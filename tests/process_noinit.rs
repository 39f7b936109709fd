//! A binary that uses `lox::process` but whose `main` does NOT call
//! `lox::init()`: the first gather must report a clear `TaskError::Launch`,
//! not hang and not start workers that start workers.
//! (`harness = false`: this file's `main` is the test.)

use lox::TaskError;

fn double(x: u32) -> u32 {
    x * 2
}

fn main() {
    // Deliberately no lox::init() here. A copy of this binary started as a
    // worker reaches this same code, refuses to launch workers of its own,
    // and never answers the handshake.
    let pool = lox::process(2, double);
    for i in 0..3 {
        pool.scatter(i);
    }
    let out = pool.try_gather();
    let mut failed = 0;
    for r in &out {
        match r {
            Err(TaskError::Launch(m)) if m.contains("lox::init()") => {}
            other => {
                failed += 1;
                eprintln!("expected a Launch error naming lox::init(), got {other:?}");
            }
        }
    }
    if out.len() != 3 {
        failed += 1;
    }
    println!(
        "process_noinit: {} passed, {failed} failed",
        1 - failed.min(1)
    );
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
