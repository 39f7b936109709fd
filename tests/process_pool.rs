//! Process pools end to end. A `harness = false` test binary: its own `main`
//! calls `lox::init()` first, because this executable is also the workers.
//! Every test asserts values, order and error kinds, never timing.

mod common;
use common::gone;

use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lox::{Launcher, TaskError};

// ---- job functions (plain fns: they run in the worker processes) ----

fn square(x: u64) -> u64 {
    x * x
}

/// A small command language so one pool can do many things.
fn act((cmd, arg): (String, u64)) -> u64 {
    match cmd.as_str() {
        "pid" => std::process::id() as u64,
        "sleep_pid" => {
            std::thread::sleep(Duration::from_millis(arg));
            std::process::id() as u64
        }
        "sleep" => {
            std::thread::sleep(Duration::from_millis(arg));
            arg
        }
        "exit" => std::process::exit(arg as i32),
        "abort" => std::process::abort(),
        "kill" => {
            // SAFETY: a plain signal to this very process.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            unreachable!("SIGKILL is not survivable")
        }
        "segv" => {
            // SAFETY: not safe at all: this job crashes its worker on purpose.
            unsafe { std::ptr::null_mut::<u64>().write_volatile(1) };
            unreachable!()
        }
        "panic" => panic!("bad {arg}"),
        "garbage" => {
            // Write a frame header announcing 4 GiB straight onto the
            // protocol channel (the worker's only write-only pipe above fd 2).
            for fd in 3..64 {
                // SAFETY: fcntl/fstat/write on fds of this process; garbage on
                // the channel is what this job is for.
                unsafe {
                    let mut st: libc::stat = std::mem::zeroed();
                    let wronly = libc::fcntl(fd, libc::F_GETFL) & libc::O_ACCMODE == libc::O_WRONLY;
                    if wronly
                        && libc::fstat(fd, &mut st) == 0
                        && st.st_mode & libc::S_IFMT == libc::S_IFIFO
                    {
                        libc::write(fd, b"\xff\xff\xff\xffjunk".as_ptr().cast(), 8);
                    }
                }
            }
            std::thread::sleep(Duration::from_secs(30));
            arg
        }
        "echo" => arg,
        "slot" => {
            // Which launcher started this worker (see `launchers_per_slot`).
            std::thread::sleep(Duration::from_millis(arg));
            std::env::var("LOX_TEST_SLOT").map_or(0, |v| v.parse().unwrap_or(99))
        }
        other => panic!("unknown command {other}"),
    }
}

fn c(cmd: &str, arg: u64) -> (String, u64) {
    (cmd.to_owned(), arg)
}

fn noisy(x: u64) -> u64 {
    for i in 0..200 {
        println!("noise {i} from job {x}: \0\0\0\u{1}\u{ff} not a frame");
        print!("\x04\x00\x00\x00abcd");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    x + 1
}

fn reverse(v: Vec<u8>) -> Vec<u8> {
    v.into_iter().rev().collect()
}

fn grow(n: u64) -> Vec<u8> {
    vec![7; n as usize]
}

/// Dies the first time (no marker file yet), succeeds the second.
fn die_once(marker: String) -> u32 {
    if Path::new(&marker).exists() {
        7
    } else {
        std::fs::write(&marker, b"x").expect("write marker");
        std::process::abort()
    }
}

#[lox::process(2)]
fn mul(x: u64, y: u64) -> u64 {
    x * y
}

#[lox::process]
fn shout(s: String) -> String {
    s.to_uppercase()
}

// ---- helpers ----

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("lox-process-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A copy of this test binary at another path.
fn copy_of_self(dir: &Path) -> PathBuf {
    let dst = dir.join("worker-copy");
    std::fs::copy(std::env::current_exe().unwrap(), &dst).expect("copy test binary");
    dst
}

fn wait_gone(pids: &BTreeSet<u64>, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if pids.iter().all(|&p| gone(p)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let alive: Vec<_> = pids.iter().filter(|&&p| !gone(p)).collect();
    panic!("worker processes still running after {within:?}: {alive:?}");
}

/// A launcher that stands in for a remote host: a shell script that runs the
/// worker executable with a cleared environment and stays in between (as
/// `ssh` does).
fn wrapper_launcher(dir: &Path) -> Launcher {
    let script = dir.join("fake-ssh.sh");
    std::fs::write(&script, "#!/bin/sh\n# a stand-in for ssh: cleared environment, an extra process in between\nenv -i \"$@\"\n")
        .expect("write script");
    Launcher::prefix("/bin/sh", [&script]).exe(copy_of_self(dir))
}

fn hex32_tokens(s: &str) -> BTreeSet<String> {
    s.split(|ch: char| !ch.is_ascii_hexdigit())
        .filter(|t| t.len() == 32)
        .map(str::to_owned)
        .collect()
}

// ---- tests ----

fn slow_jobs_after_cheap_ones_spread_over_the_workers() {
    // Cheap jobs make the pipeline deep; slow jobs queued right behind them
    // must still go to both workers rather than all to the first one that
    // refills its pipeline.
    let pool = lox::process(2, act);
    for round in 0..3 {
        for i in 0..2000 {
            pool.scatter(c("echo", i));
        }
        for _ in 0..4 {
            pool.scatter(c("sleep_pid", 150));
        }
        let out = pool.gather();
        assert_eq!(out.len(), 2004);
        let pids: BTreeSet<u64> = out[2000..].iter().copied().collect();
        assert_eq!(
            pids.len(),
            2,
            "round {round}: the slow jobs ran on {pids:?}"
        );
    }
}

fn order_and_reuse() {
    let pool = lox::process(2, act);
    let sleeps = [40, 0, 25, 5, 0, 30, 1, 0, 10, 0];
    for &ms in &sleeps {
        pool.scatter(c("sleep", ms));
    }
    assert_eq!(pool.gather(), sleeps.to_vec());
    let sq = lox::process(2, square);
    for i in 0..100 {
        sq.scatter(i);
    }
    assert_eq!(sq.gather(), (0..100).map(|i| i * i).collect::<Vec<_>>());
    // Workers stay up between gathers, and there are never more than n.
    let pids = |p: &lox::Process<(String, u64), u64>| {
        for _ in 0..20 {
            p.scatter(c("pid", 0));
        }
        p.gather().into_iter().collect::<BTreeSet<_>>()
    };
    let first = pids(&pool);
    let second = pids(&pool);
    assert!(
        first.len() <= 2 && second.len() <= 2,
        "{first:?} {second:?}"
    );
    assert!(!first.contains(&(std::process::id() as u64)));
    assert!(
        first.union(&second).count() <= 2,
        "workers were replaced between gathers: {first:?} {second:?}"
    );
}

fn panics_are_reported() {
    let pool = lox::process(2, act);
    pool.scatter(c("echo", 1));
    pool.scatter(c("panic", 3));
    pool.scatter(c("echo", 2));
    let out = pool.try_gather();
    assert_eq!(out[0], Ok(1));
    assert_eq!(out[1], Err(TaskError::Panicked("bad 3".into())));
    assert_eq!(out[2], Ok(2));
    pool.scatter(c("echo", 1));
    pool.scatter(c("panic", 4));
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.gather()))
        .expect_err("gather must panic");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("job 1") && msg.contains("bad 4"), "{msg}");
    // The worker survived the panics.
    pool.scatter(c("echo", 5));
    assert_eq!(pool.gather(), vec![5]);
}

fn death_case(cmd: &str, arg: u64, expect: &str) {
    let pool = lox::process(2, act);
    for i in 0..6 {
        pool.scatter(c("sleep", 5 + i));
    }
    pool.scatter(c(cmd, arg));
    for i in 0..6 {
        pool.scatter(c("echo", 100 + i));
    }
    let out = pool.try_gather();
    assert_eq!(out.len(), 13);
    for (i, r) in out.iter().enumerate() {
        match i {
            0..=5 => assert_eq!(r, &Ok(5 + i as u64)),
            6 => match r {
                Err(TaskError::WorkerDied(m)) => {
                    assert!(m.contains(expect), "{m:?} should mention {expect}")
                }
                other => panic!("job 6: expected WorkerDied, got {other:?}"),
            },
            _ => assert_eq!(r, &Ok(100 + i as u64 - 7)),
        }
    }
    // The pool goes on with a replacement worker.
    for i in 0..10 {
        pool.scatter(c("echo", i));
    }
    assert_eq!(pool.gather(), (0..10).collect::<Vec<_>>());
}

fn worker_exit() {
    death_case("exit", 3, "exited with status 3");
}

fn worker_abort() {
    death_case("abort", 0, "SIGABRT");
}

fn worker_sigkill() {
    death_case("kill", 0, "SIGKILL");
}

fn worker_segfault() {
    death_case("segv", 0, "SIGSEGV");
}

fn deaths_amid_many_jobs() {
    // Short jobs (deep pipelines) with a death every 37 jobs: exactly the dying
    // jobs fail, every other one completes, in order.
    let pool = lox::process(2, act);
    let dies = |i: u64| i % 37 == 20;
    for i in 0..400 {
        pool.scatter(if dies(i) { c("exit", 4) } else { c("echo", i) });
    }
    let out = pool.try_gather();
    assert_eq!(out.len(), 400);
    for (i, r) in out.into_iter().enumerate() {
        let i = i as u64;
        if dies(i) {
            assert!(
                matches!(&r, Err(TaskError::WorkerDied(m)) if m.contains("status 4")),
                "job {i}: {r:?}"
            );
        } else {
            assert_eq!(r, Ok(i), "job {i}");
        }
    }
}

fn garbage_from_worker() {
    let pool = lox::process(1, act);
    pool.scatter(c("echo", 1));
    pool.scatter(c("garbage", 2));
    pool.scatter(c("echo", 3));
    let out = pool.try_gather();
    assert_eq!(out[0], Ok(1));
    assert!(
        matches!(&out[1], Err(TaskError::Protocol(m)) if m.contains("exceeds the cap")),
        "{:?}",
        out[1]
    );
    assert_eq!(out[2], Ok(3));
}

fn no_orphans_after_drop() {
    let pool = lox::process(2, act);
    for _ in 0..10 {
        pool.scatter(c("pid", 0));
    }
    let pids: BTreeSet<u64> = pool.gather().into_iter().collect();
    // One worker busy in a long job when the pool goes.
    pool.scatter(c("sleep", 60_000));
    std::thread::sleep(Duration::from_millis(200));
    let clone = pool.clone();
    drop(pool);
    assert!(pids.iter().all(|&p| !gone(p)), "a clone keeps the workers");
    clone.scatter(c("echo", 1));
    let stream = clone.gather_iter(); // outlives the pool
    drop(clone);
    wait_gone(&pids, Duration::from_secs(20));
    // The jobs the pool could not finish are settled, not left hanging.
    let outcomes: Vec<_> = stream.collect();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes
        .iter()
        .any(|(_, r)| matches!(r, Err(TaskError::WorkerDied(m)) if m.contains("dropped"))));
}

/// Run a copy of this binary as a "parent", SIGKILL it while its workers are
/// busy, and check that the workers go too.
fn parent_killed(wrapper: bool) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.arg("--role-parent");
    let dir = tmpdir(if wrapper {
        "parent-wrapper"
    } else {
        "parent-local"
    });
    if wrapper {
        cmd.arg(&dir);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn parent role");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let pids: BTreeSet<u64> = lines
        .next()
        .expect("pid line")
        .expect("read")
        .split_whitespace()
        .map(|p| p.parse().expect("pid"))
        .collect();
    assert_eq!(
        lines.next().expect("running line").expect("read"),
        "running"
    );
    assert!(!pids.is_empty() && pids.iter().all(|&p| !gone(p)));
    child.kill().expect("SIGKILL the parent");
    child.wait().expect("reap the parent");
    wait_gone(&pids, Duration::from_secs(20));
    let _ = std::fs::remove_dir_all(&dir);
}

fn parent_killed_local() {
    parent_killed(false);
}

fn parent_killed_wrapper() {
    parent_killed(true);
}

fn role_parent(dir: Option<&str>) {
    let mut pool = lox::process(2, act);
    if let Some(d) = dir {
        pool = pool.with_launcher(wrapper_launcher(Path::new(d)));
    }
    for _ in 0..10 {
        pool.scatter(c("pid", 0));
    }
    let pids: BTreeSet<u64> = pool.gather().into_iter().collect();
    println!(
        "{}",
        pids.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for _ in 0..4 {
        pool.scatter(c("sleep", 120_000));
    }
    std::thread::sleep(Duration::from_millis(300));
    println!("running");
    std::thread::sleep(Duration::from_secs(120));
}

fn stdout_noise() {
    let pool = lox::process(2, noisy);
    for i in 0..8 {
        pool.scatter(i);
    }
    assert_eq!(pool.gather(), (1..9).collect::<Vec<_>>());
}

fn payloads_64k() {
    let pool = lox::process(2, reverse);
    let inputs: Vec<Vec<u8>> = (0..6u32)
        .map(|k| (0..65536u32).map(|i| (i * 31 + k) as u8).collect())
        .collect();
    for v in &inputs {
        pool.scatter(v.clone());
    }
    let out = pool.gather();
    for (v, r) in inputs.iter().zip(&out) {
        assert_eq!(r.len(), 65536);
        assert!(v.iter().rev().eq(r.iter()));
    }
}

fn frame_cap() {
    let pool = lox::process(1, reverse).max_frame(4096);
    pool.scatter(vec![1, 2, 3]);
    pool.scatter(vec![9; 65536]);
    let out = pool.try_gather();
    assert_eq!(out[0], Ok(vec![3, 2, 1]));
    assert!(
        matches!(&out[1], Err(TaskError::Protocol(m)) if m.contains("cap")),
        "{:?}",
        out[1]
    );
    let big = lox::process(1, grow).max_frame(4096);
    big.scatter(10);
    big.scatter(100_000);
    big.scatter(20);
    let out = big.try_gather();
    assert_eq!(out[0].as_ref().map(Vec::len), Ok(10));
    assert!(
        matches!(&out[1], Err(TaskError::Protocol(m)) if m.contains("cap")),
        "{:?}",
        out[1]
    );
    assert_eq!(out[2].as_ref().map(Vec::len), Ok(20));
}

fn mismatched_binary() {
    let dir = tmpdir("mismatch");
    let exe = copy_of_self(&dir);
    // Appending a byte leaves the program runnable and changes its fingerprint.
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&exe)
        .unwrap()
        .write_all(b"\0")
        .unwrap();
    let pool = lox::process(2, square).with_launcher(Launcher::local().exe(&exe));
    for i in 0..3 {
        pool.scatter(i);
    }
    for r in pool.try_gather() {
        match r {
            Err(TaskError::Launch(m)) => {
                assert!(m.contains("fingerprint mismatch"), "{m}");
                assert_eq!(hex32_tokens(&m).len(), 2, "both fingerprints named: {m}");
            }
            other => panic!("expected a Launch error, got {other:?}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn wrapper_launcher_copy() {
    let dir = tmpdir("wrapper");
    let pool = lox::process(2, act).with_launcher(wrapper_launcher(&dir));
    for i in 0..20 {
        pool.scatter(c("echo", i));
    }
    assert_eq!(pool.gather(), (0..20).collect::<Vec<_>>());
    // A death behind the wrapper is still one failed job.
    pool.scatter(c("exit", 9));
    pool.scatter(c("echo", 1));
    let out = pool.try_gather();
    assert!(
        matches!(&out[0], Err(TaskError::WorkerDied(_))),
        "{:?}",
        out[0]
    );
    assert_eq!(out[1], Ok(1));
    drop(pool);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `with_launchers`: worker `i` is started by launcher `i % len`, also when
/// a worker is replaced.
fn launchers_per_slot() {
    let env = |v: &str| Launcher::prefix("env", [format!("LOX_TEST_SLOT={v}")]);
    let pool = lox::process(2, act).with_launchers(vec![env("1"), env("2")]);
    // Slow enough jobs that both workers take some.
    for _ in 0..20 {
        pool.scatter(c("slot", 20));
    }
    let seen: BTreeSet<u64> = pool.gather().into_iter().collect();
    assert_eq!(
        seen,
        BTreeSet::from([1, 2]),
        "both launchers started a worker"
    );
    // A dead worker comes back through its own launcher: still only 1 and 2.
    pool.scatter(c("exit", 3));
    for _ in 0..20 {
        pool.scatter(c("slot", 20));
    }
    let out = pool.try_gather();
    assert!(
        matches!(&out[0], Err(TaskError::WorkerDied(_))),
        "{:?}",
        out[0]
    );
    let seen: BTreeSet<u64> = out[1..].iter().map(|r| *r.as_ref().unwrap()).collect();
    assert_eq!(seen, BTreeSet::from([1, 2]));
    // An empty list is the local launcher.
    let local = lox::process(1, act).with_launchers(Vec::new());
    assert_eq!(local.call(c("echo", 5)), 5);
    local.scatter(c("slot", 0));
    assert_eq!(local.gather(), vec![0]);
}

fn macro_form() {
    assert_eq!(mul(6, 7), 42);
    for i in 0..5 {
        mul::scatter(i, i + 1);
    }
    assert_eq!(mul::gather(), vec![0, 2, 6, 12, 20]);
    assert_eq!(mul::pool().n_workers(), 2);
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert_eq!(shout::pool().n_workers(), cpus);
    shout::scatter("a".into());
    shout::scatter("b".into());
    assert_eq!(
        shout::try_gather(),
        vec![Ok("A".to_string()), Ok("B".to_string())]
    );
}

fn launcher_missing() {
    let pool =
        lox::process(2, square).with_launcher(Launcher::prefix("/nonexistent/lox-launcher", ["x"]));
    for i in 0..4 {
        pool.scatter(i);
    }
    let out = pool.try_gather();
    assert_eq!(out.len(), 4);
    for r in out {
        match r {
            Err(TaskError::Launch(m)) => assert!(m.contains("No such file"), "{m}"),
            other => panic!("expected a Launch error, got {other:?}"),
        }
    }
}

fn no_handshake() {
    // A "launcher" that runs something that never speaks the protocol.
    let pool = lox::process(1, square)
        .with_launcher(Launcher::prefix("/bin/sh", ["-c", "exec sleep 30", "sh"]))
        .handshake_timeout(Duration::from_millis(500));
    pool.scatter(1);
    pool.scatter(2);
    for r in pool.try_gather() {
        assert!(
            matches!(&r, Err(TaskError::Launch(m)) if m.contains("no handshake") && m.contains("lox::init()")),
            "{r:?}"
        );
    }
    // A program that talks, but not lox.
    let chatty = lox::process(1, square).with_launcher(Launcher::prefix(
        "/bin/sh",
        ["-c", "echo hello there; cat", "sh"],
    ));
    chatty.scatter(1);
    let r = chatty.try_gather();
    assert!(
        matches!(&r[0], Err(TaskError::Launch(m)) if m.contains("handshake")),
        "{r:?}"
    );
}

fn job_timeout() {
    // Generous: the echo jobs around the sleeper must not time out even on a
    // very busy machine.
    let d = Duration::from_secs(3);
    let pool = lox::process(1, act).job_timeout(d).retries(3);
    pool.scatter(c("echo", 1));
    pool.scatter(c("sleep", 60_000));
    pool.scatter(c("echo", 2));
    let out = pool.try_gather();
    assert_eq!(out[0], Ok(1));
    assert_eq!(out[1], Err(TaskError::TimedOut(d)));
    assert_eq!(out[2], Ok(2));
}

fn retries() {
    let dir = tmpdir("retries");
    let pool = lox::process(1, die_once).retries(1);
    pool.scatter(dir.join("a").to_string_lossy().into_owned());
    assert_eq!(pool.try_gather(), vec![Ok(7)]);
    let no_retry = lox::process(1, die_once);
    no_retry.scatter(dir.join("b").to_string_lossy().into_owned());
    assert!(
        matches!(&no_retry.try_gather()[0], Err(TaskError::WorkerDied(m)) if m.contains("SIGABRT"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn handle_traits() {
    fn check<T: Clone + Send + Sync + 'static>(_: &T) {}
    let pool = lox::process(2, square);
    check(&pool);
    // Clones share one pool and one list of pending results, across threads.
    let other = pool.clone();
    std::thread::spawn(move || {
        other.scatter(3);
    })
    .join()
    .unwrap();
    pool.scatter(4);
    assert_eq!(pool.gather(), vec![9, 16]);
}

fn inline_modes() {
    let me = std::process::id() as u64;
    let pool = lox::process(0, act);
    pool.scatter(c("pid", 0));
    pool.scatter(c("panic", 1));
    let out = pool.try_gather();
    assert_eq!(out[0], Ok(me));
    assert_eq!(out[1], Err(TaskError::Panicked("bad 1".into())));
    std::env::set_var("LOX_DEBUG", "yes");
    let forced = lox::process(4, act);
    std::env::remove_var("LOX_DEBUG");
    assert_eq!(forced.n_workers(), 0);
    forced.scatter(c("pid", 0));
    assert_eq!(forced.gather(), vec![me]);
}

fn streaming_and_async() {
    let pool = lox::process(2, square);
    for i in 0..10 {
        pool.scatter(i);
    }
    let mut seen: Vec<(usize, u64)> = pool.gather_iter().map(|(s, r)| (s, r.unwrap())).collect();
    seen.sort();
    assert_eq!(
        seen,
        (0..10).map(|i| (i as usize, i * i)).collect::<Vec<_>>()
    );
    for i in 0..5 {
        pool.scatter(i);
    }
    let out = actix_rt::System::new().block_on(pool.gather_async());
    assert_eq!(out, vec![0, 1, 4, 9, 16]);
    let t = pool.scatter(3);
    assert_eq!(pool.gather(), vec![9]);
    assert!(t.is_done());
}

/// Wait for the QLock (held by the test), then return 1.
fn queue_on(q: lox::QLock) -> u64 {
    drop(q.acquire());
    1
}

/// `len()`: scattered, not started (a job sent ahead to a busy worker is not
/// started); `pending()`: scattered, not gathered.
fn len_and_pending() {
    let pool = lox::process(1, queue_on);
    let q = lox::QLock::new(());
    let held = q.acquire();
    for _ in 0..4 {
        pool.scatter(q.clone());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while q.waiting() < 1 {
        assert!(Instant::now() < deadline, "the first job never queued");
        std::thread::yield_now();
    }
    assert_eq!(
        pool.len(),
        3,
        "one started, three not (one of them in the pipe)"
    );
    assert_eq!(pool.pending(), 4);
    drop(held);
    assert_eq!(pool.gather(), vec![1; 4]);
    assert_eq!((pool.len(), pool.pending()), (0, 0));
}

/// A test still running after this fails the run (see `common::run_tests`).
const TEST_DEADLINE: Duration = Duration::from_secs(300);

/// Jobs of one's own on worker processes: submit, batches, maps, results().
fn own_jobs_on_processes() {
    let pool = lox::process(2, square);
    pool.scatter(100);
    let job = pool.submit(7);
    std::thread::scope(|s| {
        for t in 0..3u64 {
            let pool = &pool;
            s.spawn(move || {
                let batch = pool.batch();
                for i in 0..20 {
                    batch.scatter(t * 100 + i);
                }
                let want: Vec<u64> = (0..20).map(|i| (t * 100 + i) * (t * 100 + i)).collect();
                assert_eq!(batch.gather(), want);
            });
        }
    });
    assert_eq!(job.wait(), Ok(49));
    assert_eq!(pool.gather(), vec![10_000], "only the pool's own scatter");
    let mapped: Vec<u64> = pool.map(0..300u64).window(10).collect();
    assert_eq!(mapped, (0..300u64).map(|x| x * x).collect::<Vec<_>>());
    let mut unordered: Vec<u64> = pool.map_unordered(0..50u64).map(Result::unwrap).collect();
    unordered.sort();
    assert_eq!(unordered, (0..50u64).map(|x| x * x).collect::<Vec<_>>());
    let results = pool.results();
    for i in 0..40 {
        pool.scatter(i);
    }
    drop(pool); // the last handle: results() ends after the 40
    let mut got: Vec<(usize, u64)> = results.map(|(seq, r)| (seq, r.unwrap())).collect();
    got.sort();
    assert_eq!(
        got,
        (0..40u64).map(|i| (i as usize, i * i)).collect::<Vec<_>>()
    );
}

fn main() {
    lox::init();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--role-parent") {
        role_parent(args.get(2).map(String::as_str));
        return;
    }
    let tests: &[(&str, fn())] = &[
        ("order_and_reuse", order_and_reuse),
        (
            "slow_jobs_after_cheap_ones_spread_over_the_workers",
            slow_jobs_after_cheap_ones_spread_over_the_workers,
        ),
        ("panics_are_reported", panics_are_reported),
        ("worker_exit", worker_exit),
        ("worker_abort", worker_abort),
        ("worker_sigkill", worker_sigkill),
        ("worker_segfault", worker_segfault),
        ("deaths_amid_many_jobs", deaths_amid_many_jobs),
        ("garbage_from_worker", garbage_from_worker),
        ("no_orphans_after_drop", no_orphans_after_drop),
        ("parent_killed_local", parent_killed_local),
        ("parent_killed_wrapper", parent_killed_wrapper),
        ("stdout_noise", stdout_noise),
        ("payloads_64k", payloads_64k),
        ("frame_cap", frame_cap),
        ("mismatched_binary", mismatched_binary),
        ("wrapper_launcher_copy", wrapper_launcher_copy),
        ("launchers_per_slot", launchers_per_slot),
        ("macro_form", macro_form),
        ("launcher_missing", launcher_missing),
        ("no_handshake", no_handshake),
        ("job_timeout", job_timeout),
        ("retries", retries),
        ("handle_traits", handle_traits),
        ("inline_modes", inline_modes),
        ("streaming_and_async", streaming_and_async),
        ("len_and_pending", len_and_pending),
        ("own_jobs_on_processes", own_jobs_on_processes),
    ];
    common::run_tests("process_pool", tests, TEST_DEADLINE);
}
