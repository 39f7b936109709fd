//! Where process workers run: a `Launcher` is a command template. This
//! example runs its workers through a prefix (`env`, standing in for `ssh
//! node1` or `srun`), and shows the ssh and Slurm forms.
//!
//! `cargo run --release --example launchers`

use std::time::Duration;

fn work(x: u64) -> (u64, u32) {
    (x * x, std::process::id())
}

// ANCHOR: ssh
/// Workers on another host over ssh: the executable must be a byte-identical
/// copy of this one at `/shared/bin/myprog` there.
#[allow(dead_code)]
fn on_node1() -> lox::Process<u64, (u64, u32)> {
    lox::process(8, work)
        .with_launcher(lox::Launcher::prefix("ssh", ["node1"]).exe("/shared/bin/myprog"))
}
// ANCHOR_END: ssh

// ANCHOR: srun
/// Inside a Slurm allocation (`sbatch --ntasks=16`): each worker is one
/// `srun --unbuffered --quiet --nodes=1 --ntasks=1 --exact` step.
#[allow(dead_code)]
fn under_slurm() -> lox::Process<u64, (u64, u32)> {
    lox::process(16, work).with_launcher(lox::Launcher::slurm())
}

/// The same with more srun options: a partition, an account, a time limit
/// and one GPU per worker.
#[allow(dead_code)]
fn under_slurm_on_gpus() -> lox::Process<u64, (u64, u32)> {
    lox::process(4, work).with_launcher(lox::Launcher::slurm_with([
        "--partition=gpu",
        "--account=proj42",
        "--time=02:00:00",
        "--gpus-per-task=1",
    ]))
}
// ANCHOR_END: srun

fn main() {
    lox::init();

    // ANCHOR: prefix
    // `env LOX_EXAMPLE=1 <this exe> --lox-worker`: a prefix launcher, run here.
    let pool = lox::process(2, work)
        .with_launcher(lox::Launcher::prefix("env", ["LOX_EXAMPLE=1"]))
        .retries(1) // re-run a job whose worker died, once
        .job_timeout(Duration::from_secs(30)); // kill a worker stuck on a job
    for x in 1..=6 {
        pool.scatter(x);
    }
    let out = pool.gather();
    let squares: Vec<u64> = out.iter().map(|r| r.0).collect();
    assert_eq!(squares, vec![1, 4, 9, 16, 25, 36]);
    assert!(
        out.iter().all(|r| r.1 != std::process::id()),
        "ran in worker processes"
    );
    println!("squares from workers started through `env`: {squares:?}");
    // ANCHOR_END: prefix

    // ANCHOR: missing
    // A launcher that cannot start is an error per job, never a hang.
    let broken = lox::process(1, work).with_launcher(lox::Launcher::prefix(
        "/no/such/launcher",
        Vec::<String>::new(),
    ));
    broken.scatter(1);
    match broken.try_gather().remove(0) {
        Err(lox::TaskError::Launch(why)) => println!("launch error, as expected: {why}"),
        other => panic!("expected a launch error, got {other:?}"),
    }
    // ANCHOR_END: missing
}
