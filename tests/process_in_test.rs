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
