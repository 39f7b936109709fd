//! A binary that uses `lox::process` but whose `main` does NOT call
//! `lox::init()`. The parent must refuse plainly ("main() did not call
//! lox::init() before ..."), start no worker, and the side effect at the top
//! of `main` must run once: in the parent only. A copy started as a worker
//! must never run `main` (Linux: it is caught before `main`).
//! (`harness = false`: this file's `main` is the test.)

use std::io::Write;
use std::process::{Command, Stdio};

use lox::TaskError;

/// Where every run of `main` appends a line (the side effect under test).
const LOG: &str = "LOX_NOINIT_LOG";

fn double(x: u32) -> u32 {
    x * 2
}

/// The side effect: one line per run of `main`, in the file named by
/// `LOX_NOINIT_LOG` (set by the first run for every process it starts).
fn side_effect() -> std::path::PathBuf {
    let path = match std::env::var_os(LOG) {
        Some(p) => p.into(),
        None => {
            let p = std::env::temp_dir().join(format!("lox-noinit-{}", std::process::id()));
            let _ = std::fs::remove_file(&p);
            std::env::set_var(LOG, &p);
            p
        }
    };
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("open the side-effect log");
    writeln!(f, "main ran in pid {}", std::process::id()).unwrap();
    path
}

/// Scatter three jobs; every one must fail to launch with the plain message.
fn launch_errors() -> Result<(), String> {
    let pool = lox::process(2, double);
    for i in 0..3 {
        pool.scatter(i);
    }
    let out = pool.try_gather();
    if out.len() != 3 {
        return Err(format!("expected 3 outcomes, got {}", out.len()));
    }
    for r in out {
        match r {
            Err(TaskError::Launch(m))
                if m.starts_with("main() did not call lox::init() before")
                    && m.contains("(see https://docs.rs/lox/") => {}
            other => return Err(format!("expected the plain Launch message, got {other:?}")),
        }
    }
    // gather's panic carries the same words.
    pool.scatter(1);
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // the panic below is expected
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.gather()));
    std::panic::set_hook(quiet);
    let msg = caught
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    if !msg.contains("main() did not call lox::init() before") {
        return Err(format!(
            "gather should panic naming lox::init(), said {msg:?}"
        ));
    }
    Ok(())
}

/// A copy started with the marker (stdin closed: no parent to serve) must
/// exit without running `main`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn marker_copy_skips_main() -> Result<(), String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--lox-worker")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run a copy as a worker");
    if !out.status.success() || !out.stdout.is_empty() {
        return Err(format!(
            "a marker-started copy should exit 0 silently, got {:?}, stdout {:?}, stderr {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn marker_copy_skips_main() -> Result<(), String> {
    Ok(()) // workers are caught before main on Linux (glibc) only
}

fn main() {
    // Deliberately no lox::init() here.
    let log = side_effect();
    if std::env::args().nth(1).as_deref() == Some("--lox-worker") {
        // A worker reached main: the guard before main failed. Say so and
        // stop here (no workers of workers).
        println!("main ran in a worker");
        std::process::exit(3);
    }
    println!("side effect done: this is main, pid {}", std::process::id());
    let mut failures = Vec::new();
    if let Err(e) = launch_errors() {
        failures.push(e);
    }
    if let Err(e) = marker_copy_skips_main() {
        failures.push(e);
    }
    let runs = std::fs::read_to_string(&log).unwrap_or_default();
    if runs.lines().count() != 1 {
        failures.push(format!("main's side effect ran more than once:\n{runs}"));
    }
    let _ = std::fs::remove_file(&log);
    for f in &failures {
        eprintln!("FAILED: {f}");
    }
    let failed = failures.len();
    println!("process_noinit: {} passed, {failed} failed", 3 - failed);
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
