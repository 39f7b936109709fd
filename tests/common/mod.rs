//! Helpers shared by integration tests.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
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
pub fn eventually(deadline: Duration, cond: impl FnMut() -> bool) -> bool {
    eventually_every(deadline, Duration::from_micros(200), cond)
}

/// [`eventually`], polling every `every` (for a `cond` that runs a command).
pub fn eventually_every(
    deadline: Duration,
    every: Duration,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let end = Instant::now() + deadline;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(every);
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

/// Now, in ns since the Unix epoch: a clock that processes share (job
/// records of when a lock was held).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

/// Two intervals of the list that overlap, if any.
pub fn overlapping(intervals: &[(u64, u64)]) -> Option<((u64, u64), (u64, u64))> {
    let mut v = intervals.to_vec();
    v.sort();
    v.windows(2).find(|w| w[0].1 > w[1].0).map(|w| (w[0], w[1]))
}

/// An environment variable set to a true-like value (`1`, `true`, `yes`, `on`).
pub fn env_true(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// Where a tool is: the PATH, then the sbin directories (often not on a
/// non-root PATH).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `program args...`, for messages.
pub fn shown(program: &Path, args: &[&str]) -> String {
    let mut s = program.display().to_string();
    for a in args {
        s.push(' ');
        s.push_str(a);
    }
    s
}

/// Run a command to completion; its stdout, or why it failed.
pub fn run(program: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{}` could not run: {e}", shown(program, args)))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}",
            shown(program, args),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A test of [`run_tests_in`]: one that runs anywhere, or one that needs the
/// environment `E` (a cluster, hosts) that the binary sets up.
pub enum Test<E> {
    Plain(fn()),
    Needs(fn(&E)),
}

/// The `main` of a `harness = false` test binary (the process tests, whose
/// binary is also the workers): runs every test whose name contains one of
/// the non-flag arguments (all of them without), each under `deadline` (a
/// hang fails the run rather than stalling CI), prints `test NAME ... ok` or
/// `FAILED: why`, and exits 1 if any failed.
pub fn run_tests(binary: &str, tests: &[(&str, fn())], deadline: Duration) -> ! {
    let tests: Vec<(&str, Test<()>)> = tests.iter().map(|&(n, f)| (n, Test::Plain(f))).collect();
    run_tests_in(binary, || Ok(()), None, &tests, deadline)
}

/// [`run_tests`] for a binary whose tests may need an environment: `setup`
/// runs once, when a selected test needs it, and either makes it or says
/// why it cannot. Then such a test prints `test NAME ... skipped: why` (the
/// binary still exits 0, the summary counts and names the skips), or, when
/// the variable `required` is set to a true-like value, `FAILED`. The
/// environment is dropped (cleaned up) before the binary exits.
pub fn run_tests_in<E>(
    binary: &str,
    setup: impl FnOnce() -> Result<E, String>,
    required: Option<&str>,
    tests: &[(&str, Test<E>)],
    deadline: Duration,
) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let selected: Vec<&(&str, Test<E>)> = tests
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    let required = required.filter(|v| env_true(v));
    let started = Instant::now();
    let env = if selected.iter().any(|(_, t)| matches!(t, Test::Needs(_))) {
        let env = setup();
        match &env {
            Ok(_) => println!("{binary}: environment ready in {:.2?}", started.elapsed()),
            Err(why) => println!("{binary}: cannot set up: {why}"),
        }
        Some(env)
    } else {
        None
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for (name, test) in selected {
        let run: Box<dyn FnOnce() + '_> = match (test, &env) {
            (Test::Plain(f), _) => Box::new(*f),
            (Test::Needs(f), Some(Ok(e))) => Box::new(move || f(e)),
            (Test::Needs(_), Some(Err(why))) => {
                if let Some(var) = required {
                    failed += 1;
                    println!("test {name} ... FAILED: {var} is set and {why}");
                } else {
                    skipped += 1;
                    println!("test {name} ... skipped: {why}");
                }
                continue;
            }
            (Test::Needs(_), None) => unreachable!("set up when a test needs it"),
        };
        let t0 = Instant::now();
        let (done, watch) = std::sync::mpsc::channel::<()>();
        let watched = name.to_string();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = watch.recv_timeout(deadline) {
                println!("test {watched} ... FAILED: still running after {deadline:?}");
                std::process::exit(1);
            }
        });
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
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
    let why = match &env {
        Some(Err(why)) if skipped > 0 => format!(" ({why})"),
        _ => String::new(),
    };
    // process::exit runs no destructors.
    drop(env);
    println!(
        "{binary}: {passed} passed, {failed} failed, {skipped} skipped{why} ({:.1?})",
        started.elapsed()
    );
    std::process::exit(if failed > 0 { 1 } else { 0 });
}

/// Drop `a` on this thread and `b` and `c` on two others, all three let go
/// by one barrier, so that the drops race; returns once all are done.
pub fn drop_at_once<A, B: Send + 'static, C: Send + 'static>(a: A, b: B, c: C) {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let spawn_drop = |x: Box<dyn FnOnce() + Send>| {
        let barrier = barrier.clone();
        std::thread::spawn(move || {
            barrier.wait();
            x();
        })
    };
    let tb = spawn_drop(Box::new(move || drop(b)));
    let tc = spawn_drop(Box::new(move || drop(c)));
    barrier.wait();
    drop(a);
    tb.join().unwrap();
    tc.join().unwrap();
}

/// A `kB` field of /proc/self/status (`"VmRSS:"`, `"VmHWM:"`), in kB.
pub fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}
