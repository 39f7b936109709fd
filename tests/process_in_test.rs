//! Process pools inside ordinary `#[test]`s (the default libtest harness):
//! the setup is one line, `lox::init()` first in the test. The workers are
//! this test binary started again; lox catches them before libtest's `main`
//! would reject the worker marker.

#[lox::process(2)]
fn square(x: u64) -> u64 {
    x * x
}

fn worker_pid(_: ()) -> u32 {
    std::process::id()
}

#[test]
fn the_macro_in_a_test() {
    lox::init();
    for i in 0..10 {
        square::scatter(i);
    }
    assert_eq!(square::gather(), (0..10).map(|i| i * i).collect::<Vec<_>>());
}

#[test]
fn jobs_run_in_other_processes() {
    lox::init();
    let pool = lox::process(2, worker_pid);
    for _ in 0..4 {
        pool.scatter(());
    }
    let pids = pool.try_gather();
    assert_eq!(pids.len(), 4);
    for pid in pids {
        let pid = pid.expect("the job ran in a worker");
        assert_ne!(pid, std::process::id(), "a worker, not the test process");
    }
}

fn refuse_five(x: u32) -> u32 {
    assert_ne!(x, 5, "five is refused");
    x
}

/// Run by `worker_panics_are_labelled` in a child test process, whose
/// stderr it reads.
#[test]
#[ignore = "run by worker_panics_are_labelled"]
fn panicking_job() {
    lox::init();
    let pool = lox::process(1, refuse_five);
    for x in 0..7 {
        pool.scatter(x);
    }
    let out = pool.try_gather();
    assert!(
        matches!(&out[5], Err(lox::TaskError::Panicked(m)) if m == "assertion `left != right` failed: five is refused\n  left: 5\n right: 5")
    );
}

#[test]
fn worker_panics_are_labelled() {
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "panicking_job", "--ignored", "--nocapture"])
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run the child test");
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "child test failed: {stderr}");
    let label = "lox worker 0 (pid ";
    let at = format!("), job 5: panicked at {}:", file!());
    let line = stderr
        .lines()
        .find(|l| l.starts_with(label))
        .unwrap_or_else(|| panic!("no labelled panic report in: {stderr}"));
    assert!(line.contains(&at), "{line:?} should contain {at:?}");
    assert!(stderr.contains("five is refused"), "{stderr}");
    assert!(
        !stderr.contains("thread 'main'"),
        "unlabelled panic: {stderr}"
    );
}
