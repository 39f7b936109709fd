//! Process pools over ssh, on two "hosts" made on this machine: two network
//! namespaces, each joined to the root namespace by a veth pair and running
//! its own `sshd`. The filesystem is shared, so this test binary is the
//! worker "on the other host" too, started as `ssh ... <this exe> --lox-worker`.
//!
//! A `harness = false` test binary: its own `main` calls `lox::init()` first
//! (this executable is also the workers).
//!
//! Skipping: when the hosts cannot be made (not root, no `ip`, `sshd`, `ssh`
//! or `ssh-keygen`, `ip netns add` refused, sshd not answering) every test
//! prints `test NAME ... skipped: <reason>`, the summary line says so, and the
//! binary exits 0. With `LOX_MULTIHOST_REQUIRED=1` such a skip is a failure
//! (exit 1). Nothing passes silently.
//!
//! `index_semaphore_across_hosts` uses sync handles that travel in job
//! arguments (serde `IndexSemaphore` and `Lock`): jobs on both hosts draw
//! from the one semaphore in the parent.
//!
//! Cleanup: a guard (`Hosts`) kills the sshds and whatever else still runs in
//! the namespaces, deletes the veths and namespaces and the temp dir on drop,
//! also after a failed test. Names carry the pid; a leftover namespace of the
//! same name is deleted first, and leftovers of dead runs (no process inside)
//! are swept. sshd is started with `PR_SET_PDEATHSIG`, so a killed test run
//! does not leave it behind.

mod common;
use common::{find_tool, gone, run};

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lox::{Launcher, TaskError};
use serde::{Deserialize, Serialize};

/// How long sshd may take to accept its first login.
const SSHD_READY: Duration = Duration::from_secs(20);
/// How long workers (and their sshd sessions) may take to go after the pool
/// is dropped.
const WORKERS_GONE: Duration = Duration::from_secs(20);

// ---- what runs on the "hosts" ----

/// Where a job ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Ran {
    value: u64,
    /// The server address of the ssh connection (3rd field of
    /// `SSH_CONNECTION`, which sshd sets), or "local".
    host: String,
    /// Inode of the network namespace the job ran in.
    netns: u64,
    pid: u32,
}

fn netns_inode(path: &str) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.ino())
}

fn where_am_i() -> (String, u64) {
    let host = std::env::var("SSH_CONNECTION")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2).map(str::to_owned))
        .unwrap_or_else(|| "local".to_owned());
    (host, netns_inode("/proc/self/ns/net"))
}

fn value_of(x: u64) -> u64 {
    x * x + 1
}

/// `("work", x, _)`: a short job; `("exit", _, _)`: the worker exits with
/// status 3; `("hold", x, dir)`: leaves a marker file in `dir` and sleeps.
fn job((cmd, x, dir): (String, u64, String)) -> Ran {
    let (host, netns) = where_am_i();
    let pid = std::process::id();
    match cmd.as_str() {
        "work" => std::thread::sleep(Duration::from_millis(20)),
        "exit" => std::process::exit(3),
        "hold" => {
            let marker = Path::new(&dir).join(format!("hold-{host}-{pid}-{x}"));
            std::fs::write(&marker, b"").expect("write the marker");
            std::thread::sleep(Duration::from_secs(120));
        }
        other => panic!("unknown command {other}"),
    }
    Ran {
        value: value_of(x),
        host,
        netns,
        pid,
    }
}

fn work(x: u64) -> (String, u64, String) {
    ("work".to_owned(), x, String::new())
}

// ---- the hosts ----

/// One namespace with its veth and sshd.
struct Host {
    ns: String,
    /// The root-namespace end of the veth pair (the other end is `eth0` in `ns`).
    veth: String,
    /// The namespace side (where sshd listens).
    addr: Ipv4Addr,
    /// Inode of the namespace (`/run/netns/<ns>`), as jobs see it.
    netns: u64,
    sshd: Option<Child>,
    sshd_pid: u32,
    log: PathBuf,
}

/// The two hosts and everything made for them. Dropping it removes it all.
struct Hosts {
    dir: PathBuf,
    ip: PathBuf,
    ssh: PathBuf,
    key: PathBuf,
    hosts: Vec<Host>,
}

/// Pids of the processes in a namespace (empty if it does not exist).
fn netns_pids(ip: &Path, ns: &str) -> Vec<u32> {
    run(ip, &["netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn poll_until(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kill every process in the namespace, delete the veth, then the namespace.
/// Errors are ignored: this is cleanup of things that may not exist.
fn remove_netns(ip: &Path, ns: &str, veth: &str) {
    let pids = netns_pids(ip, ns);
    for &pid in &pids {
        // SAFETY: kill(2) has no memory effects; these processes run in a
        // namespace this test made for itself.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    poll_until(Duration::from_secs(5), || pids.iter().all(|&p| gone(p)));
    let _ = run(ip, &["link", "del", veth]);
    let _ = run(ip, &["netns", "del", ns]);
}

/// Namespaces left by earlier runs that died before their cleanup: named
/// `lox-mh-<pid>-<x>`, that pid no longer running, no process inside (their
/// veths go with them); and those runs' temp dirs `lox-mh-<pid>`.
fn sweep_stale(ip: &Path) {
    let list = run(ip, &["netns", "list"]).unwrap_or_default();
    for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
        let Some(pid) = name
            .strip_prefix("lox-mh-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if netns_pids(ip, name).is_empty() {
            let _ = run(ip, &["netns", "del", name]);
        }
    }
    // And their temp dirs.
    for e in std::fs::read_dir(std::env::temp_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("lox-mh-")
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Two /30 blocks in 10.231.0.0/16 that no address in the root namespace
/// uses, starting from one picked by the pid (parallel runs differ).
fn pick_subnets(ip: &Path) -> Result<[Ipv4Addr; 2], String> {
    let used: BTreeSet<Ipv4Addr> = run(ip, &["-o", "-4", "addr", "show"])?
        .split_whitespace()
        .filter_map(|t| t.split('/').next()?.parse().ok())
        .collect();
    // Block n is 10.231.0.0 + 4n; host a takes block 2p, host b block 2p+1.
    let block = |n: u32| Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 231, 0, 0)) + 4 * n);
    let start = std::process::id() % 8000;
    for k in 0..8000 {
        let p = (start + k) % 8000;
        let (a, b) = (block(2 * p), block(2 * p + 1));
        let taken = [a, b]
            .iter()
            .any(|&net| (0..4).any(|i| used.contains(&Ipv4Addr::from(u32::from(net) + i))));
        if !taken {
            return Ok([a, b]);
        }
    }
    Err("no free /30 pair in 10.231.0.0/16".to_owned())
}

fn plus(a: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(a) + n)
}

fn truthy(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// `path` as one word for the remote shell: ssh joins its arguments with
/// spaces and the remote shell splits them again.
fn shell_word(path: &Path) -> String {
    let s = path.to_string_lossy();
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+,:@%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl Hosts {
    /// Make both hosts, or say why this machine cannot.
    fn build() -> Result<Hosts, String> {
        let tool = |name: &str, package: &str| {
            find_tool(name).ok_or_else(|| format!("`{name}` not found (package {package})"))
        };
        let ip = tool("ip", "iproute2")?;
        let sshd = tool("sshd", "openssh-server")?;
        let ssh = tool("ssh", "openssh-client")?;
        let keygen = tool("ssh-keygen", "openssh-client")?;
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            return Err(format!(
                "not root (euid {euid}): network namespaces and sshd need root"
            ));
        }
        sweep_stale(&ip);
        let pid = std::process::id();
        let dir = std::env::temp_dir().join(format!("lox-mh-{pid}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // From here on, dropping `hosts` undoes whatever was made.
        let mut hosts = Hosts {
            key: dir.join("client_key"),
            dir,
            ip,
            ssh,
            hosts: Vec::new(),
        };
        let d = hosts.dir.clone();
        let keygen_file = |file: &Path| -> Result<(), String> {
            let f = file.to_string_lossy();
            run(
                &keygen,
                &[
                    "-q",
                    "-t",
                    "ed25519",
                    "-N",
                    "",
                    "-C",
                    "lox-multihost",
                    "-f",
                    &f,
                ],
            )
            .map(drop)
        };
        keygen_file(&hosts.key)?;
        let authorized = d.join("authorized_keys");
        std::fs::copy(d.join("client_key.pub"), &authorized)
            .map_err(|e| format!("cannot write {}: {e}", authorized.display()))?;
        // sshd's privilege separation directory.
        std::fs::create_dir_all("/run/sshd")
            .map_err(|e| format!("cannot create /run/sshd: {e}"))?;
        let nets = pick_subnets(&hosts.ip)?;
        for (x, net) in ["a", "b"].into_iter().zip(nets) {
            let ns = format!("lox-mh-{pid}-{x}");
            let veth = format!("lxmh{pid}{x}");
            remove_netns(&hosts.ip, &ns, &veth); // a leftover of a crashed run
            run(&hosts.ip, &["netns", "add", &ns])?;
            let (outer, addr) = (plus(net, 1), plus(net, 2));
            hosts.hosts.push(Host {
                ns: ns.clone(),
                veth: veth.clone(),
                addr,
                netns: netns_inode(&format!("/run/netns/{ns}")),
                sshd: None,
                sshd_pid: 0,
                log: d.join(format!("sshd-{x}.log")),
            });
            let ip = |args: &[&str]| run(&hosts.ip, args).map(drop);
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["addr", "add", &format!("{outer}/30"), "dev", &veth])?;
            ip(&["link", "set", &veth, "up"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/30"),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;

            let host_key = d.join(format!("host_key_{x}"));
            keygen_file(&host_key)?;
            let config = d.join(format!("sshd_config_{x}"));
            let text = format!(
                "ListenAddress {addr}:22\n\
                 HostKey {hk}\n\
                 AuthorizedKeysFile {ak}\n\
                 PermitRootLogin prohibit-password\n\
                 PubkeyAuthentication yes\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 UsePAM no\n\
                 StrictModes no\n\
                 PidFile {pidfile}\n\
                 UseDNS no\n\
                 PrintMotd no\n\
                 X11Forwarding no\n\
                 AllowTcpForwarding no\n\
                 MaxStartups 100\n\
                 MaxSessions 100\n\
                 LogLevel INFO\n",
                hk = host_key.display(),
                ak = authorized.display(),
                pidfile = d.join(format!("sshd-{x}.pid")).display(),
            );
            std::fs::write(&config, text).map_err(|e| format!("cannot write sshd config: {e}"))?;
            let h = hosts.hosts.last_mut().expect("just pushed");
            let log = std::fs::File::create(&h.log)
                .map_err(|e| format!("cannot create {}: {e}", h.log.display()))?;
            let log2 = log.try_clone().map_err(|e| e.to_string())?;
            let mut cmd = Command::new(&hosts.ip);
            cmd.arg("netns")
                .arg("exec")
                .arg(&ns)
                .arg(&sshd)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2);
            {
                use std::os::unix::process::CommandExt;
                // SAFETY: only prctl, async-signal-safe, between fork and exec:
                // sshd gets SIGKILL if this test dies without cleaning up.
                unsafe {
                    cmd.pre_exec(|| {
                        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                        Ok(())
                    });
                }
            }
            let child = cmd
                .spawn()
                .map_err(|e| format!("cannot start sshd in {ns}: {e}"))?;
            // `ip netns exec` execs sshd in place: this pid is the listener.
            h.sshd_pid = child.id();
            h.sshd = Some(child);
        }
        for i in 0..hosts.hosts.len() {
            hosts.wait_ready(i)?;
        }
        Ok(hosts)
    }

    /// ssh arguments that reach host `i` with the test's key.
    fn ssh_args(&self, i: usize) -> Vec<OsString> {
        let mut v: Vec<OsString> = ["-F", "/dev/null", "-i"].map(OsString::from).to_vec();
        v.push(self.key.clone().into_os_string());
        for o in [
            "BatchMode=yes",
            "StrictHostKeyChecking=no",
            "UserKnownHostsFile=/dev/null",
            "LogLevel=ERROR",
        ] {
            v.push("-o".into());
            v.push(o.into());
        }
        v.push(format!("root@{}", self.hosts[i].addr).into());
        v
    }

    fn launcher(&self, i: usize) -> Launcher {
        let l = Launcher::prefix(&self.ssh, self.ssh_args(i));
        let exe = std::env::current_exe().expect("current exe");
        let word = shell_word(&exe);
        if word == exe.to_string_lossy() {
            l
        } else {
            l.exe(word)
        }
    }

    fn launchers(&self) -> Vec<Launcher> {
        (0..self.hosts.len()).map(|i| self.launcher(i)).collect()
    }

    fn sshd_log(&self, i: usize) -> String {
        let log = std::fs::read_to_string(&self.hosts[i].log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// Retry `ssh ... true` until it works or `SSHD_READY` passes.
    fn wait_ready(&mut self, i: usize) -> Result<(), String> {
        let deadline = Instant::now() + SSHD_READY;
        loop {
            let exited = self.hosts[i]
                .sshd
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                return Err(format!(
                    "sshd in {} exited ({status}); its log:\n{}",
                    self.hosts[i].ns,
                    self.sshd_log(i)
                ));
            }
            let out = Command::new(&self.ssh)
                .args(["-o", "ConnectTimeout=5"])
                .args(self.ssh_args(i))
                .arg("true")
                .stdin(Stdio::null())
                .output();
            let last = match out {
                Ok(o) if o.status.success() => return Ok(()),
                Ok(o) => {
                    format!(
                        "{}: {}",
                        o.status,
                        String::from_utf8_lossy(&o.stderr).trim()
                    )
                }
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "sshd at {} (netns {}) did not accept `ssh root@{} true` within {SSHD_READY:?} \
                     (last: {last}); sshd log:\n{}",
                    self.hosts[i].addr,
                    self.hosts[i].ns,
                    self.hosts[i].addr,
                    self.sshd_log(i)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Processes in host `i` other than its sshd listener (sessions, workers).
    fn others(&self, i: usize) -> Vec<u32> {
        let h = &self.hosts[i];
        netns_pids(&self.ip, &h.ns)
            .into_iter()
            .filter(|&p| p != h.sshd_pid)
            .collect()
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (x, h) in ["a", "b"].iter().zip(&self.hosts) {
            parts.push(format!("{x}={} (netns {})", h.addr, h.ns));
        }
        parts.join(", ")
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for h in &mut self.hosts {
            if let Some(mut c) = h.sshd.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            remove_netns(&self.ip, &h.ns, &h.veth);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ---- tests ----

/// For each result, which host (index) ran it; panics on a job that ran
/// anywhere else, or whose address and namespace disagree.
fn host_of(hosts: &Hosts, r: &Ran, what: &str) -> usize {
    let root = netns_inode("/proc/self/ns/net");
    assert_ne!(r.netns, root, "{what} ran in the root namespace: {r:?}");
    let by_ns = hosts.hosts.iter().position(|h| h.netns == r.netns);
    let by_addr = hosts
        .hosts
        .iter()
        .position(|h| h.addr.to_string() == r.host);
    match (by_ns, by_addr) {
        (Some(a), Some(b)) if a == b => a,
        _ => panic!(
            "{what} ran on no known host, or its namespace and ssh address disagree: {r:?} \
             (hosts {})",
            hosts.describe()
        ),
    }
}

fn job_batch_over_two_hosts(hosts: &Hosts) {
    let pool = lox::process(4, job).with_launchers(hosts.launchers());
    let mut pids_seen: BTreeSet<u32> = BTreeSet::new();

    // Round 1: 40 jobs, results in order, both hosts, never the root namespace.
    for i in 0..40 {
        pool.scatter(work(i));
    }
    let out = pool.try_gather();
    assert_eq!(out.len(), 40);
    let mut ran_on = BTreeSet::new();
    for (i, r) in out.iter().enumerate() {
        let r = r
            .as_ref()
            .unwrap_or_else(|e| panic!("round 1, job {i}: {e}"));
        assert_eq!(r.value, value_of(i as u64), "round 1, job {i}: {r:?}");
        ran_on.insert(host_of(hosts, r, &format!("round 1, job {i}")));
        pids_seen.insert(r.pid);
    }
    assert_eq!(
        ran_on,
        BTreeSet::from([0, 1]),
        "round 1: jobs ran on hosts {ran_on:?} of {}",
        hosts.describe()
    );

    // Round 2: a worker dies mid-job; only that job fails.
    let dies = 12;
    for i in 0..40 {
        if i == dies {
            pool.scatter(("exit".to_owned(), i, String::new()));
        } else {
            pool.scatter(work(i));
        }
    }
    let out = pool.try_gather();
    assert_eq!(out.len(), 40);
    let mut after_death = BTreeSet::new();
    for (i, r) in out.iter().enumerate() {
        if i as u64 == dies {
            match r {
                Err(TaskError::WorkerDied(m)) => {
                    // ssh relays the worker's own status (lox waits for it
                    // before killing the launcher).
                    assert!(m.contains("exited with status 3"), "{m}");
                    println!(
                        "  (the worker that exited with status 3 over ssh is reported as: {m})"
                    )
                }
                other => panic!("round 2, job {i}: expected WorkerDied, got {other:?}"),
            }
            continue;
        }
        let r = r
            .as_ref()
            .unwrap_or_else(|e| panic!("round 2, job {i}: {e}"));
        assert_eq!(r.value, value_of(i as u64), "round 2, job {i}: {r:?}");
        let h = host_of(hosts, r, &format!("round 2, job {i}"));
        if i as u64 > dies {
            after_death.insert(h);
        }
        pids_seen.insert(r.pid);
    }
    assert_eq!(
        after_death,
        BTreeSet::from([0, 1]),
        "round 2: the jobs after the death ran on hosts {after_death:?}"
    );

    // Round 3: the pool goes on over both hosts, at most 2 workers per host
    // (the replacement came back through its own slot's launcher).
    for i in 0..40 {
        pool.scatter(work(i));
    }
    let out = pool.try_gather();
    let mut per_host: BTreeMap<usize, BTreeSet<u32>> = BTreeMap::new();
    for (i, r) in out.iter().enumerate() {
        let r = r
            .as_ref()
            .unwrap_or_else(|e| panic!("round 3, job {i}: {e}"));
        assert_eq!(r.value, value_of(i as u64), "round 3, job {i}: {r:?}");
        let h = host_of(hosts, r, &format!("round 3, job {i}"));
        per_host.entry(h).or_default().insert(r.pid);
        pids_seen.insert(r.pid);
    }
    assert_eq!(
        per_host.keys().copied().collect::<BTreeSet<_>>(),
        BTreeSet::from([0, 1]),
        "round 3: {per_host:?}"
    );
    assert!(
        per_host.values().all(|p| p.len() <= 2),
        "round 3: more than 2 workers on one host: {per_host:?}"
    );

    // Round 4: drop the pool while workers on both hosts are in the middle
    // of a long job: the ssh connections go, and so must the workers.
    let marks = hosts.dir.join("holds");
    std::fs::create_dir_all(&marks).expect("marker dir");
    let marks_s = marks.to_string_lossy().into_owned();
    for i in 0..4 {
        pool.scatter(("hold".to_owned(), i, marks_s.clone()));
    }
    let holding = || -> BTreeMap<String, BTreeSet<u32>> {
        let mut m: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
        for e in std::fs::read_dir(&marks).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let mut parts = name.split('-').skip(1);
            if let (Some(host), Some(pid)) = (parts.next(), parts.next()) {
                if let Ok(pid) = pid.parse() {
                    m.entry(host.to_owned()).or_default().insert(pid);
                }
            }
        }
        m
    };
    let all_four = poll_until(Duration::from_secs(30), || {
        holding().values().map(BTreeSet::len).sum::<usize>() == 4
    });
    let held = holding();
    assert!(
        held.len() == 2 || all_four,
        "round 4: long jobs did not start on both hosts: {held:?}"
    );
    pids_seen.extend(held.values().flatten());
    let dropped = Instant::now();
    drop(pool);
    let workers_gone = poll_until(WORKERS_GONE, || pids_seen.iter().all(|&p| gone(p)));
    let left: Vec<u32> = pids_seen.iter().copied().filter(|&p| !gone(p)).collect();
    assert!(
        workers_gone,
        "workers still running {WORKERS_GONE:?} after the pool was dropped: {left:?} (of {pids_seen:?})"
    );
    let sessions_gone = poll_until(WORKERS_GONE, || {
        (0..hosts.hosts.len()).all(|i| hosts.others(i).is_empty())
    });
    assert!(
        sessions_gone,
        "processes other than sshd still in the namespaces after the pool was dropped: a={:?} b={:?}",
        hosts.others(0),
        hosts.others(1)
    );
    println!(
        "  (workers on both hosts, in the middle of a job, and their sshd sessions were gone {:.2?} after the pool was dropped)",
        dropped.elapsed()
    );
}

mod remote_sync {
    //! One `IndexSemaphore` (and one `Lock`) in the parent, used by jobs on
    //! both hosts through handles passed in the job's arguments.

    use super::*;
    use common::{now_ns, overlapping};
    use lox::{IndexSemaphore, Lock};

    /// One job's record: its input, the slot index it held, where it ran,
    /// and (from the shared clock) when it held the slot and the lock.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Held {
        pub i: u64,
        pub idx: usize,
        pub host: String,
        pub netns: u64,
        pub slot: (u64, u64),
        pub lock: (u64, u64),
    }

    /// The recorded intervals lie inside the real holds (taken after the
    /// acquire returned, before the release), so real holds that never
    /// overlap give recorded ones that never overlap.
    pub fn gpu_job((sem, in_use, i): (IndexSemaphore, Lock, u64)) -> Held {
        let (host, netns) = where_am_i();
        let g = sem.acquire();
        let t0 = now_ns();
        let idx = g.index();
        std::thread::sleep(Duration::from_millis(8));
        let lock = {
            let _l = in_use.acquire();
            let l0 = now_ns();
            std::thread::sleep(Duration::from_millis(4));
            (l0, now_ns())
        };
        std::thread::sleep(Duration::from_millis(8));
        let t1 = now_ns();
        drop(g);
        Held {
            i,
            idx,
            host,
            netns,
            slot: (t0, t1),
            lock,
        }
    }

    /// Most intervals holding at one instant (an end at t is before a start at t).
    pub fn max_overlap(intervals: &[(u64, u64)]) -> usize {
        let mut events: Vec<(u64, i32)> = intervals
            .iter()
            .flat_map(|&(s, e)| [(s, 1), (e, -1)])
            .collect();
        events.sort();
        let (mut now, mut most) = (0i32, 0i32);
        for (_, d) in events {
            now += d;
            most = most.max(now);
        }
        most as usize
    }

    pub fn index_semaphore_across_hosts(hosts: &Hosts) {
        let sem = IndexSemaphore::new(2);
        let in_use = Lock::new(());
        let pool = lox::process(4, gpu_job).with_launchers(hosts.launchers());
        for i in 0..16 {
            pool.scatter((sem.clone(), in_use.clone(), i));
        }
        let out = pool.try_gather();
        assert_eq!(out.len(), 16);
        let mut held = Vec::new();
        let mut ran_on = BTreeSet::new();
        for (i, r) in out.into_iter().enumerate() {
            let h = r.unwrap_or_else(|e| panic!("job {i}: {e}"));
            assert_eq!(h.i, i as u64, "results in order");
            assert!(h.idx < 2, "job {i} got index {}", h.idx);
            let ran = Ran {
                value: 0,
                host: h.host.clone(),
                netns: h.netns,
                pid: 0,
            };
            ran_on.insert(host_of(hosts, &ran, &format!("job {i}")));
            held.push(h);
        }
        assert_eq!(
            ran_on,
            BTreeSet::from([0, 1]),
            "jobs ran on hosts {ran_on:?}"
        );
        for idx in 0..2 {
            let same: Vec<(u64, u64)> = held
                .iter()
                .filter(|h| h.idx == idx)
                .map(|h| h.slot)
                .collect();
            assert_eq!(
                overlapping(&same),
                None,
                "index {idx} held by two jobs at once"
            );
        }
        let slots: Vec<(u64, u64)> = held.iter().map(|h| h.slot).collect();
        let most = max_overlap(&slots);
        assert!(most <= 2, "{most} jobs held a slot at once");
        let locks: Vec<(u64, u64)> = held.iter().map(|h| h.lock).collect();
        assert_eq!(overlapping(&locks), None, "two jobs held the Lock at once");
        assert_eq!(sem.available(), 2, "every slot released after gather");
        assert!(!in_use.is_locked(), "the lock released after gather");
    }
}

/// A test needs the hosts; `Err` says why it is not built in.
type TestFn = Result<fn(&Hosts), &'static str>;

const INDEX_SEMAPHORE: TestFn = Ok(remote_sync::index_semaphore_across_hosts);

fn panic_text(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

fn main() {
    lox::init();
    // Inline mode would run every job here, in the root namespace.
    std::env::remove_var("LOX_DEBUG");
    let required = std::env::var("LOX_MULTIHOST_REQUIRED").is_ok_and(|v| truthy(&v));
    let args: Vec<String> = std::env::args().collect();
    let tests: &[(&str, TestFn)] = &[
        ("job_batch_over_two_hosts", Ok(job_batch_over_two_hosts)),
        ("index_semaphore_across_hosts", INDEX_SEMAPHORE),
    ];
    // `cargo test -- NAME` filters like the default harness.
    let filters: Vec<&String> = args
        .iter()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<&(&str, TestFn)> = tests
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();

    let started = Instant::now();
    let hosts = if selected.iter().any(|(_, t)| t.is_ok()) {
        let h = Hosts::build();
        match &h {
            Ok(h) => println!(
                "multihost: hosts {} ready in {:.2?}",
                h.describe(),
                started.elapsed()
            ),
            Err(why) => println!("multihost: cannot make the hosts: {why}"),
        }
        Some(h)
    } else {
        None
    };

    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut reasons: Vec<String> = Vec::new();
    for (name, test) in selected {
        let t0 = Instant::now();
        let f = match test {
            Ok(f) => f,
            Err(why) => {
                skipped += 1;
                println!("test {name} ... skipped: {why}");
                reasons.push(format!("{name}: {why}"));
                continue;
            }
        };
        match hosts.as_ref().expect("made when a test can run") {
            Err(why) if required => {
                failed += 1;
                println!(
                    "test {name} ... FAILED: LOX_MULTIHOST_REQUIRED is set and the hosts cannot be made: {why}"
                );
            }
            Err(why) => {
                skipped += 1;
                println!("test {name} ... skipped: {why}");
                if !reasons.contains(why) {
                    reasons.push(why.clone());
                }
            }
            Ok(h) => match std::panic::catch_unwind(|| f(h)) {
                Ok(()) => {
                    passed += 1;
                    println!("test {name} ... ok ({:.2?})", t0.elapsed());
                }
                Err(e) => {
                    failed += 1;
                    println!("test {name} ... FAILED: {}", panic_text(&*e));
                }
            },
        }
    }
    // Clean up before exit (process::exit runs no destructors).
    drop(hosts);
    let why = if reasons.is_empty() {
        String::new()
    } else {
        format!(" ({})", reasons.join("; "))
    };
    println!(
        "multihost: {passed} passed, {failed} failed, {skipped} skipped{why} ({:.1?})",
        started.elapsed()
    );
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
