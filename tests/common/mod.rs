//! Helpers shared by integration tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// Threads of this process right now (Linux: /proc/self/status).
pub fn thread_count() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("Threads: line")
}

/// Poll `cond` until it holds or `deadline` passes; returns whether it held.
pub fn eventually(deadline: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// A small deterministic pseudo-random sequence (xorshift), for job durations.
pub fn xorshift(seed: u64) -> impl Iterator<Item = u64> {
    let mut x = seed.max(1);
    std::iter::from_fn(move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        Some(x)
    })
}

/// The process `pid` is gone (no /proc entry, or a zombie nobody has
/// reaped yet).
pub fn gone(pid: impl std::fmt::Display) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|s| s.trim_start().starts_with('Z')),
    }
}

/// The message of a caught panic.
pub fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else {
        "<non-string panic>".into()
    }
}

/// The `main` of a `harness = false` test binary (the process tests, whose
/// binary is also the workers): runs every test whose name contains one of
/// the non-flag arguments (all of them without), each under `deadline` (a
/// hang fails the run rather than stalling CI), prints `test NAME ... ok` or
/// `FAILED: why`, and exits 1 if any failed.
pub fn run_tests(binary: &str, tests: &[(&str, fn())], deadline: Duration) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let (mut passed, mut failed) = (0, 0);
    let started = Instant::now();
    for (name, test) in tests {
        if !filters.is_empty() && !filters.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let t0 = Instant::now();
        let (done, watch) = std::sync::mpsc::channel::<()>();
        let watched = name.to_string();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(deadline) {
                println!("test {watched} ... FAILED: still running after {deadline:?}");
                std::process::exit(1);
            }
        });
        let outcome = std::panic::catch_unwind(test);
        let _ = done.send(());
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok ({:.2?})", t0.elapsed());
            }
            Err(e) => {
                failed += 1;
                println!("test {name} ... FAILED: {}", panic_text(e));
            }
        }
    }
    println!(
        "{binary}: {passed} passed, {failed} failed ({:.1?})",
        started.elapsed()
    );
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
