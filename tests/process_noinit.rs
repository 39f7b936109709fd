//! A binary that uses `lox::process` but whose `main` does NOT call
//! `lox::init()`: the first gather must report a clear `TaskError::Launch`,
//! not hang and not start workers that start workers.
//! (`harness = false`: this file's `main` is the test.)

use std::process::{Command, Stdio};

use lox::TaskError;

fn double(x: u32) -> u32 {
    x * 2
}

/// Scatter three jobs; every one must fail to launch, naming `lox::init()`.
/// Returns the error messages.
fn launch_errors() -> Result<Vec<String>, String> {
    let pool = lox::process(2, double);
    for i in 0..3 {
        pool.scatter(i);
    }
    let out = pool.try_gather();
    if out.len() != 3 {
        return Err(format!("expected 3 outcomes, got {}", out.len()));
    }
    out.into_iter()
        .map(|r| match r {
            Err(TaskError::Launch(m)) if m.contains("lox::init()") => Ok(m),
            other => Err(format!(
                "expected a Launch error naming lox::init(), got {other:?}"
            )),
        })
        .collect()
}

fn main() {
    // Deliberately no lox::init() here.
    let as_worker = std::env::args().nth(1).as_deref() == Some("--lox-worker");
    if as_worker {
        // A copy started as a worker reaches this same code: it must refuse to
        // launch workers of its own (no fork bomb) and say why.
        match launch_errors() {
            Ok(msgs) => println!("{}", msgs.join("\n")),
            Err(e) => println!("{e}"),
        }
        return;
    }
    let mut failures = Vec::new();
    // 1. The parent side: its worker never answers the handshake.
    if let Err(e) = launch_errors() {
        failures.push(e);
    }
    // 2. The worker side, observed directly: started with the marker, it refuses.
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--lox-worker")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .expect("run a copy as a worker");
    let text = String::from_utf8_lossy(&out.stdout);
    if text.matches("refusing to start more workers").count() != 3 {
        failures.push(format!(
            "a marker-started copy without init should refuse 3 times, said: {text}"
        ));
    }
    for f in &failures {
        eprintln!("FAILED: {f}");
    }
    let failed = failures.len();
    println!("process_noinit: {} passed, {failed} failed", 2 - failed);
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
