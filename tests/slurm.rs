//! Process pools on a live Slurm cluster: workers started by
//! `Launcher::slurm()` as job steps on two nodes (`.ci/slurm.sh up DIR` runs
//! a controller and two slurmd, `n1` and `n2`, on this machine; the
//! filesystem is shared, so this test binary is the worker on both).
//!
//! A `harness = false` test binary: its own `main` calls `lox::init()` first
//! (this executable is also the workers, and, started with `--as-parent` or
//! `--in-allocation`, the parent of a pool that a test kills or runs under
//! `salloc`).
//!
//! Skipping: without a cluster (no `srun`/`sinfo`/`squeue`/`scancel` on the
//! PATH, `sinfo` failing, fewer than two idle nodes) every test that needs
//! one prints `test NAME ... skipped: <reason>` and the binary exits 0; with
//! `LOX_SLURM_REQUIRED=1` (set by `.ci/run` once its cluster is up) such a
//! skip is a failure. `pty_stdout_is_made_raw` needs no cluster.
//!
//! Steps are told apart from anyone else's by their name (this binary's file
//! name); the cluster guard cancels whatever of them is left when it is
//! dropped.

mod common;
use common::{
    eventually, eventually_every, find_tool, gone, now_ns, overlapping, run, run_tests_in, Test,
};

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lox::{IndexSemaphore, Launcher, Lock, TaskError};
use serde::{Deserialize, Serialize};

/// How long a step may take to go after its srun was killed (the issue's
/// bound for a dropped pool).
const STEP_GONE: Duration = Duration::from_secs(5);
/// A test still running after this fails the run.
const TEST_DEADLINE: Duration = Duration::from_secs(120);
/// Skips become failures when this is set to a true-like value.
const REQUIRED: &str = "LOX_SLURM_REQUIRED";

// ---- what runs in the steps ----

/// Where a job ran, as its step sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Ran {
    value: u64,
    /// `SLURMD_NODENAME`: the node whose slurmd started the step.
    node: String,
    /// `SLURM_JOB_ID.SLURM_STEP_ID`, as squeue shows steps.
    step: String,
    pid: u32,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn value_of(x: u64) -> u64 {
    x * x + 1
}

/// `("work", x, _)`: a short job; `("exit", ..)`: the worker exits with
/// status 3; `("sigkill", ..)`: the worker kills itself with SIGKILL;
/// `("hold", x, dir)`: leaves a marker `dir/hold-<step>-<pid>` and sleeps;
/// `("stop", x, dir)`: the same, but the worker stops itself (SIGSTOP: not
/// even its watchdog can notice that its parent is gone);
/// `("together", x, dir)`: leaves a marker, waits (up to 15 s) until a
/// second job has left one too; its value is how many it saw.
fn job((cmd, x, dir): (String, u64, String)) -> Ran {
    let (node, pid) = (var("SLURMD_NODENAME"), std::process::id());
    let step = format!("{}.{}", var("SLURM_JOB_ID"), var("SLURM_STEP_ID"));
    let mut value = value_of(x);
    match cmd.as_str() {
        "work" => std::thread::sleep(Duration::from_millis(20)),
        "exit" => std::process::exit(3),
        // SAFETY: kill(2) on this very process.
        "sigkill" => unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        },
        "hold" | "stop" | "together" => {
            let marker = Path::new(&dir).join(format!("{cmd}-{step}-{pid}"));
            std::fs::write(&marker, b"").expect("write the marker");
            if cmd == "stop" {
                // SAFETY: raise(3) on this very process.
                unsafe { libc::raise(libc::SIGSTOP) };
            }
            if cmd != "together" {
                std::thread::sleep(Duration::from_secs(120));
            }
            let seen = || std::fs::read_dir(&dir).map_or(0, |d| d.count()) as u64;
            eventually(Duration::from_secs(15), || seen() >= 2);
            value = seen();
        }
        other => panic!("unknown command {other}"),
    }
    Ran {
        value,
        node,
        step,
        pid,
    }
}

fn work(x: u64) -> (String, u64, String) {
    ("work".to_owned(), x, String::new())
}

fn cmd(c: &str, x: u64, dir: &Path) -> (String, u64, String) {
    (c.to_owned(), x, dir.to_string_lossy().into_owned())
}

/// The markers jobs left in `dir`: (step, pid) of each.
fn markers(dir: &Path) -> Vec<(String, u32)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut parts = name.splitn(3, '-').skip(1);
        if let (Some(step), Some(pid)) = (parts.next(), parts.next()) {
            if let Ok(pid) = pid.parse() {
                v.push((step.to_owned(), pid));
            }
        }
    }
    v
}

// ---- the cluster ----

/// A running cluster with at least two idle nodes, and a scratch directory.
struct Cluster {
    squeue: PathBuf,
    scancel: PathBuf,
    nodes: Vec<String>,
    /// The name of this binary's steps (its file name).
    step_name: String,
    dir: PathBuf,
}

/// Where a Slurm client tool is, or why the tests skip.
fn tool(name: &str) -> Result<PathBuf, String> {
    find_tool(name).ok_or_else(|| {
        format!(
            "`{name}` not found (Debian package slurm-client; `.ci/slurm.sh up DIR` starts a \
             cluster on this machine)"
        )
    })
}

impl Cluster {
    fn find() -> Result<Cluster, String> {
        let sinfo = tool("sinfo")?;
        // Without a configuration the clients look the controller up in
        // DNS: ask nothing of the network, say why instead.
        let conf =
            std::env::var_os("SLURM_CONF").map_or("/etc/slurm/slurm.conf".into(), PathBuf::from);
        if !conf.is_file() {
            return Err(format!(
                "no Slurm configuration at {} (SLURM_CONF); `.ci/slurm.sh up DIR` starts a \
                 cluster on this machine and writes DIR/env",
                conf.display()
            ));
        }
        tool("srun")?;
        let (squeue, scancel) = (tool("squeue")?, tool("scancel")?);
        // Idle nodes, waited for a while: jobs of a run just before may
        // still be completing.
        let idle = || -> Result<(BTreeSet<String>, String), String> {
            let listed = run(&sinfo, &["-h", "-N", "-o", "%N %t"])
                .map_err(|e| format!("no Slurm controller answers: {e}"))?;
            let nodes = listed
                .lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(_, state)| state.trim() == "idle")
                .map(|(n, _)| n.to_owned())
                .collect();
            Ok((nodes, listed))
        };
        let mut last = idle()?;
        squeue_until(Duration::from_secs(20), || {
            last = idle().unwrap_or_default();
            last.0.len() >= 2
        });
        let (nodes, listed) = last;
        if nodes.len() < 2 {
            return Err(format!(
                "fewer than two idle Slurm nodes within 20 s (sinfo: {:?})",
                listed.trim()
            ));
        }
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let step_name = exe
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dir = std::env::temp_dir().join(format!("lox-slurm-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(Cluster {
            squeue,
            scancel,
            nodes: nodes.into_iter().collect(),
            step_name,
            dir,
        })
    }

    /// The running steps of this binary (ids `JOB.STEP`).
    fn steps(&self) -> Vec<String> {
        self.listed(&["-h", "-s", "-o", "%i|%j"])
    }

    /// Ids of what squeue lists, filtered by this binary's name.
    fn listed(&self, args: &[&str]) -> Vec<String> {
        run(&self.squeue, args)
            .expect("squeue")
            .lines()
            .filter_map(|l| l.split_once('|'))
            .filter(|(_, name)| name.trim() == self.step_name)
            .map(|(id, _)| id.to_owned())
            .collect()
    }

    /// A test starts on an idle cluster: no step, and no job (not even one
    /// completing, which still holds its CPUs and would steer where the
    /// next ones go) of a test before it.
    fn settle(&self) {
        let jobs = || self.listed(&["-h", "-o", "%i|%j"]);
        assert!(
            squeue_until(Duration::from_secs(20), || jobs().is_empty()),
            "jobs of an earlier test still listed: {:?}",
            jobs()
        );
    }

    /// Every step of this binary is gone within `within`.
    fn no_steps_within(&self, within: Duration) -> bool {
        squeue_until(within, || self.steps().is_empty())
    }

    /// A fresh, empty directory for markers.
    fn scratch(&self, name: &str) -> PathBuf {
        let d = self.dir.join(name);
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir");
        d
    }
}

/// Poll a `cond` that runs squeue, at a pace the controller does not mind.
fn squeue_until(deadline: Duration, cond: impl FnMut() -> bool) -> bool {
    eventually_every(deadline, Duration::from_millis(20), cond)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = run(&self.scancel, &["--quiet", "--name", &self.step_name]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn slurm_pool(n: usize) -> lox::Process<(String, u64, String), Ran> {
    lox::process(n, job).with_launcher(Launcher::slurm())
}

// ---- tests ----

fn jobs_in_order_on_both_nodes(c: &Cluster) {
    c.settle();
    let t0 = Instant::now();
    let pool = slurm_pool(2);
    pool.scatter(work(0));
    let first = pool.gather();
    println!(
        "  (process(..) to the first result through srun: {:.0?})",
        t0.elapsed()
    );
    assert_eq!(first[0].value, value_of(0));
    for i in 0..40 {
        pool.scatter(work(i));
    }
    let out = pool.try_gather();
    assert_eq!(out.len(), 40);
    let mut nodes = BTreeSet::new();
    for (i, r) in out.iter().enumerate() {
        let r = r.as_ref().unwrap_or_else(|e| panic!("job {i}: {e}"));
        assert_eq!(r.value, value_of(i as u64), "job {i}: {r:?}");
        assert!(c.nodes.contains(&r.node), "job {i} ran on {r:?}");
        nodes.insert(r.node.clone());
    }
    assert_eq!(nodes.len(), 2, "40 jobs ran on {nodes:?} only");
}

/// Frames full of every byte value, 0x0a above all, and one of 1 MiB, pass
/// through the step's pseudo-terminal unchanged in both directions.
fn binary_frames_pass_unchanged(c: &Cluster) {
    c.settle();
    fn reverse(mut v: Vec<u8>) -> Vec<u8> {
        v.reverse();
        v
    }
    let pool = lox::process(1, reverse).with_launcher(Launcher::slurm());
    let all: Vec<u8> = (0..=255u8).collect();
    let inputs = [
        vec![b'\n'; 100],
        all.clone(),
        b"\r\n\x03\x04\x11\x13\x1a\x7f".to_vec(),
        all.iter().copied().cycle().take(1 << 20).collect(),
    ];
    for v in &inputs {
        pool.scatter(v.clone());
    }
    let out = pool.try_gather();
    for (i, (r, v)) in out.into_iter().zip(&inputs).enumerate() {
        let r = r.unwrap_or_else(|e| panic!("payload {i}: {e}"));
        assert_eq!(r.len(), v.len(), "payload {i}: length");
        assert!(r.iter().eq(v.iter().rev()), "payload {i} came back changed");
    }
}

/// A worker that calls `exit(3)` (srun relays its status) or is SIGKILLed
/// fails its own job only; the pool goes on.
fn worker_deaths_fail_one_job_each(c: &Cluster) {
    c.settle();
    let pool = slurm_pool(2);
    for i in 0..20 {
        let x = match i {
            5 => ("exit".to_owned(), i, String::new()),
            12 => ("sigkill".to_owned(), i, String::new()),
            _ => work(i),
        };
        pool.scatter(x);
    }
    let out = pool.try_gather();
    for (i, r) in out.iter().enumerate() {
        match (i, r) {
            (5, Err(TaskError::WorkerDied(m))) => {
                assert!(m.contains("exited with status 3"), "job 5: {m}");
                println!("  (exit(3) in a step: {m})");
            }
            (12, Err(TaskError::WorkerDied(m))) => println!("  (SIGKILL in a step: {m})"),
            (5 | 12, other) => panic!("job {i}: expected WorkerDied, got {other:?}"),
            (_, Ok(r)) => assert_eq!(r.value, value_of(i as u64), "job {i}"),
            (_, Err(e)) => panic!("job {i}: {e}"),
        }
    }
    // The replacements are new jobs: where they run is the scheduler's
    // choice (a node still completing the killed job counts as loaded).
    for i in 0..10 {
        pool.scatter(work(i));
    }
    let values: Vec<u64> = pool.gather().into_iter().map(|r| r.value).collect();
    assert_eq!(values, (0..10).map(value_of).collect::<Vec<_>>());
}

/// Record of a job holding the shared semaphore slot and lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Held {
    i: u64,
    node: String,
    slot: (u64, u64),
    lock: (u64, u64),
}

/// The recorded intervals lie inside the real holds, so real holds that
/// never overlap give recorded ones that never overlap.
fn hold_both((sem, lock, i): (IndexSemaphore, Lock, u64)) -> Held {
    let node = var("SLURMD_NODENAME");
    let g = sem.acquire();
    let t0 = now_ns();
    std::thread::sleep(Duration::from_millis(5));
    let lock = {
        let _l = lock.acquire();
        let l0 = now_ns();
        std::thread::sleep(Duration::from_millis(5));
        (l0, now_ns())
    };
    let slot = (t0, now_ns());
    drop(g);
    Held {
        i,
        node,
        slot,
        lock,
    }
}

fn semaphore_and_lock_across_nodes(c: &Cluster) {
    c.settle();
    let sem = IndexSemaphore::new(1);
    let lock = Lock::new(());
    let pool = lox::process(2, hold_both).with_launcher(Launcher::slurm());
    for i in 0..16 {
        pool.scatter((sem.clone(), lock.clone(), i));
    }
    let held: Vec<Held> = pool.gather();
    let nodes: BTreeSet<&str> = held.iter().map(|h| h.node.as_str()).collect();
    assert_eq!(nodes.len(), 2, "jobs ran on {nodes:?}");
    assert!(held.iter().enumerate().all(|(i, h)| h.i == i as u64));
    let slots: Vec<(u64, u64)> = held.iter().map(|h| h.slot).collect();
    assert_eq!(
        overlapping(&slots),
        None,
        "the IndexSemaphore(1) held twice"
    );
    let locks: Vec<(u64, u64)> = held.iter().map(|h| h.lock).collect();
    assert_eq!(overlapping(&locks), None, "the Lock held twice");
    assert_eq!(sem.available(), 1);
    assert!(!lock.is_locked());
}

/// Both workers in the middle of a job; the pool is dropped: srun is
/// killed, and its step cancelled.
fn dropping_the_pool_ends_its_steps(c: &Cluster) {
    c.settle();
    let dir = c.scratch("drop");
    let pool = slurm_pool(2);
    pool.scatter(cmd("hold", 0, &dir));
    pool.scatter(cmd("hold", 1, &dir));
    assert!(
        eventually(Duration::from_secs(30), || markers(&dir).len() == 2),
        "two long jobs did not start: {:?}",
        markers(&dir)
    );
    assert_eq!(c.steps().len(), 2, "steps: {:?}", c.steps());
    let pids: Vec<u32> = markers(&dir).into_iter().map(|m| m.1).collect();
    let dropped = Instant::now();
    drop(pool);
    assert!(
        eventually(STEP_GONE, || pids.iter().all(|&p| gone(p))),
        "workers {pids:?} still running {STEP_GONE:?} after the pool was dropped"
    );
    let workers_gone = dropped.elapsed();
    assert!(
        c.no_steps_within(STEP_GONE),
        "steps still running {STEP_GONE:?} after the pool was dropped: {:?}",
        c.steps()
    );
    let steps_gone = dropped.elapsed();
    println!(
        "  (after the pool was dropped: both workers gone within {workers_gone:.2?}, \
         their steps within {steps_gone:.2?})"
    );
}

fn job_timeout_kills_the_step(c: &Cluster) {
    c.settle();
    let dir = c.scratch("timeout");
    let pool = slurm_pool(1).job_timeout(Duration::from_secs(3));
    pool.scatter(cmd("hold", 0, &dir));
    pool.scatter(work(1));
    let out = pool.try_gather();
    assert!(
        matches!(out[0], Err(TaskError::TimedOut(_))),
        "job 0: {:?}",
        out[0]
    );
    assert_eq!(out[1].as_ref().map(|r| r.value), Ok(value_of(1)));
    let held = markers(&dir);
    assert_eq!(held.len(), 1, "{held:?}");
    let step = &held[0].0;
    assert!(
        squeue_until(STEP_GONE, || !c.steps().contains(step)),
        "step {step} still running after its job timed out: {:?}",
        c.steps()
    );
    assert!(eventually(STEP_GONE, || gone(held[0].1)));
}

/// The parent (this binary with `--as-parent DIR`, in a process group of
/// its own) is killed with its whole group, as a Ctrl-C or `kill -- -PGID`
/// would: its srun processes are not in that group, die with the parent,
/// and their steps are cancelled (in the parent's group, srun's helper
/// would die too and the steps would run on until InactiveLimit). One of the
/// two workers is stopped (SIGSTOP): it cannot exit by itself when its
/// input closes, so only the cancelled step ends it.
fn parent_killed_with_its_group_leaves_no_step(c: &Cluster) {
    c.settle();
    let dir = c.scratch("parent");
    let exe = std::env::current_exe().expect("current exe");
    let mut parent = Command::new(exe)
        .arg("--as-parent")
        .arg(&dir)
        .process_group(0)
        .stdin(Stdio::null())
        .spawn()
        .expect("start the parent");
    let started = eventually(Duration::from_secs(30), || markers(&dir).len() == 2);
    let held = markers(&dir);
    // SAFETY: kill(2) on the process group of a child made for this test.
    unsafe { libc::kill(-(parent.id() as libc::pid_t), libc::SIGKILL) };
    let _ = parent.wait();
    assert!(started, "the parent's two jobs did not start: {held:?}");
    let steps: Vec<String> = held.iter().map(|m| m.0.clone()).collect();
    assert!(
        squeue_until(STEP_GONE, || c.steps().iter().all(|s| !steps.contains(s))),
        "steps {:?} still running {STEP_GONE:?} after their parent was killed",
        c.steps()
    );
    let pids: Vec<u32> = held.iter().map(|m| m.1).collect();
    assert!(eventually(STEP_GONE, || pids.iter().all(|&p| gone(p))));
}

/// `--as-parent DIR`: two long jobs over Slurm (one in a stopped worker),
/// then wait to be killed.
fn as_parent(dir: &str) -> ! {
    let pool = slurm_pool(2);
    pool.scatter(("hold".to_owned(), 0, dir.to_owned()));
    pool.scatter(("stop".to_owned(), 1, dir.to_owned()));
    std::thread::sleep(Duration::from_secs(120));
    std::process::exit(1)
}

/// Under `salloc -N1 -n2` (two tasks on one node of two CPUs), the two
/// workers are steps of that allocation and run side by side: `--exact`
/// gives each step one CPU (without it the first step would take both and
/// the second would wait for it to end).
fn inside_an_allocation_steps_run_side_by_side(c: &Cluster) {
    c.settle();
    let dir = c.scratch("alloc");
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(tool("salloc").expect("salloc"))
        .args(["--quiet", "--nodes=1", "--ntasks=2"])
        .arg(exe)
        .arg("--in-allocation")
        .arg(&dir)
        .stdin(Stdio::null())
        .output()
        .expect("run salloc");
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {text}{err}", out.status);
    let line = text.lines().find_map(|l| l.strip_prefix("RAN "));
    let ran: Vec<Ran> = parse_ran(line.expect("a RAN line"));
    let (job, _) = ran[0].step.split_once('.').expect("JOB.STEP");
    for r in &ran {
        assert!(r.step.starts_with(&format!("{job}.")), "{ran:?}");
        assert_eq!(r.value, 2, "a job never saw the other running: {ran:?}");
    }
    assert_ne!(ran[0].step, ran[1].step, "{ran:?}");
}

/// `--in-allocation DIR`: two jobs that wait for each other; prints `RAN`
/// and the results.
fn in_allocation(dir: &str) -> ! {
    let alloc = var("SLURM_JOB_ID");
    assert!(!alloc.is_empty(), "not inside an allocation");
    // A step that cannot start fails in 20 s rather than 60.
    let pool = slurm_pool(2).handshake_timeout(Duration::from_secs(20));
    pool.scatter(("together".to_owned(), 0, dir.to_owned()));
    pool.scatter(("together".to_owned(), 1, dir.to_owned()));
    let ran = pool.gather();
    let fields: Vec<String> = ran
        .iter()
        .map(|r| format!("{} {} {} {}", r.value, r.node, r.step, r.pid))
        .collect();
    println!("RAN {}", fields.join(";"));
    std::process::exit(0)
}

/// The `RAN` line of `in_allocation` back into records.
fn parse_ran(line: &str) -> Vec<Ran> {
    line.split(';')
        .map(|f| {
            let p: Vec<&str> = f.split(' ').collect();
            Ran {
                value: p[0].parse().expect("value"),
                node: p[1].to_owned(),
                step: p[2].to_owned(),
                pid: p[3].parse().expect("pid"),
            }
        })
        .collect()
}

// ---- a pseudo-terminal with output processing on (no cluster needed) ----

/// `--pty-wrap PROGRAM ARGS...`: run the program with its stdout on a
/// pseudo-terminal in the default (cooked) mode, `\n` becoming `\r\n` and
/// all, and copy what comes out of it to this process's stdout: a launcher
/// that, unlike Slurm 22.05, leaves output processing on.
fn pty_wrap(args: &[OsString]) -> ! {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills in two fds; null name, termios and winsize.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: termios filled in by tcgetattr on the fd just opened.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(slave, &mut t);
        t.c_oflag |= libc::OPOST | libc::ONLCR;
        libc::tcsetattr(slave, libc::TCSANOW, &t);
    }
    // SAFETY: the fds are ours; each File owns one.
    let (slave, mut master) = unsafe {
        (
            std::fs::File::from_raw_fd(slave),
            std::fs::File::from_raw_fd(master),
        )
    };
    let mut child = Command::new(&args[0])
        .args(&args[1..])
        .stdout(slave)
        .spawn()
        .expect("start the wrapped program");
    let mut out = std::io::stdout().lock();
    let mut buf = [0u8; 65536];
    // Read until the terminal's other side is closed (EIO).
    while let Ok(n @ 1..) = master.read(&mut buf) {
        if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    let status = child.wait().expect("wait");
    std::process::exit(status.code().unwrap_or(1))
}

/// A worker whose stdout is a cooked terminal still speaks the protocol:
/// it makes the terminal raw (without, every 0x0a of a frame would come out
/// as 0x0d 0x0a).
fn pty_stdout_is_made_raw() {
    fn echo(v: Vec<u8>) -> Vec<u8> {
        v
    }
    let exe = std::env::current_exe().expect("current exe");
    // A handshake that a cooked terminal garbles fails in seconds, not 60.
    let pool = lox::process(1, echo)
        .with_launcher(Launcher::prefix(&exe, ["--pty-wrap"]))
        .handshake_timeout(Duration::from_secs(10))
        .job_timeout(Duration::from_secs(20));
    let payload: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    pool.scatter(vec![b'\n'; 10]);
    pool.scatter(payload.clone());
    let out = pool.try_gather();
    assert_eq!(
        out[0].as_deref().ok(),
        Some(&[b'\n'; 10][..]),
        "{:?}",
        out[0]
    );
    assert!(
        out[1].as_ref().is_ok_and(|r| *r == payload),
        "{:?}",
        out[1].as_ref().map(Vec::len)
    );
}

fn main() {
    lox::init();
    // Inline mode would run every job here, outside Slurm.
    std::env::remove_var("LOX_DEBUG");
    let args: Vec<OsString> = std::env::args_os().collect();
    match args.get(1).and_then(|a| a.to_str()) {
        Some("--pty-wrap") => pty_wrap(&args[2..]),
        Some("--as-parent") => as_parent(&args[2].to_string_lossy()),
        Some("--in-allocation") => in_allocation(&args[2].to_string_lossy()),
        _ => {}
    }
    let tests: &[(&str, Test<Cluster>)] = &[
        (
            "pty_stdout_is_made_raw",
            Test::Plain(pty_stdout_is_made_raw),
        ),
        (
            "jobs_in_order_on_both_nodes",
            Test::Needs(jobs_in_order_on_both_nodes),
        ),
        (
            "binary_frames_pass_unchanged",
            Test::Needs(binary_frames_pass_unchanged),
        ),
        (
            "worker_deaths_fail_one_job_each",
            Test::Needs(worker_deaths_fail_one_job_each),
        ),
        (
            "semaphore_and_lock_across_nodes",
            Test::Needs(semaphore_and_lock_across_nodes),
        ),
        (
            "dropping_the_pool_ends_its_steps",
            Test::Needs(dropping_the_pool_ends_its_steps),
        ),
        (
            "job_timeout_kills_the_step",
            Test::Needs(job_timeout_kills_the_step),
        ),
        (
            "parent_killed_with_its_group_leaves_no_step",
            Test::Needs(parent_killed_with_its_group_leaves_no_step),
        ),
        (
            "inside_an_allocation_steps_run_side_by_side",
            Test::Needs(inside_an_allocation_steps_run_side_by_side),
        ),
    ];
    run_tests_in("slurm", Cluster::find, Some(REQUIRED), tests, TEST_DEADLINE)
}
