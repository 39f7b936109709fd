//! [`Launcher`]: how a worker process is started.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::worker::MARKER;

/// How worker processes are started: a `std::process::Command` template.
///
/// [`Launcher::local()`] (the default) runs the current executable on this
/// machine. [`Launcher::prefix`] puts a program in front, such as `ssh node1`,
/// to run the worker elsewhere: the command is
/// `program args... <worker exe> --lox-worker`, passed as separate arguments
/// (lox never builds a shell string from them; note that `ssh` itself joins
/// its arguments for the remote shell). [`exe`](Launcher::exe) sets the path of
/// the worker executable on the target. The worker must be a byte-identical
/// copy of the running executable, or the handshake refuses it.
///
/// The worker's stdin and stdout carry the protocol; its stderr is inherited,
/// so a job's `eprintln!` (and `println!`, which a worker sends to stderr)
/// shows up in the parent's stderr. The environment is inherited as by any
/// `Command`; the worker does not need it to know it is a worker.
///
/// [`Launcher::slurm()`] runs each worker as a Slurm job step, with the
/// `srun` options a binary channel needs.
///
/// ```no_run
/// let pool = lox::process(4, |x: u64| x * 2)
///     .with_launcher(lox::Launcher::prefix("ssh", ["node1"]).exe("/shared/bin/myprog"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Launcher {
    prefix: Option<(OsString, Vec<OsString>)>,
    exe: Option<PathBuf>,
    /// Started by [`Launcher::slurm_with`]: `srun` gets its own process group
    /// and dies with the worker's manager (see `command`).
    slurm: bool,
}

/// The `srun` options of [`Launcher::slurm()`], in this order, before the
/// user's.
pub(crate) const SRUN_ARGS: [&str; 5] = [
    // Every byte of the worker's stdout is passed on as it is written.
    // Without it slurmstepd releases a step's output only at newlines: the
    // binary protocol stalls after the first 0x0a byte of a frame.
    "--unbuffered",
    // No "job queued and waiting for resources" lines on stderr; errors
    // are still printed.
    "--quiet",
    // One worker is one task on one node.
    "--nodes=1",
    "--ntasks=1",
    // Inside an allocation the step gets only the CPUs it asks for (one per
    // task unless `--cpus-per-task`), not every CPU of the job on its node,
    // so steps run side by side. Not `--exclusive`: started outside an
    // allocation, that would make every worker a job of a whole node.
    "--exact",
];

impl Launcher {
    /// The current executable, on this machine.
    ///
    /// ```
    /// let l = lox::Launcher::local();
    /// assert!(format!("{l:?}").contains("Launcher"));
    /// ```
    pub fn local() -> Launcher {
        Launcher::default()
    }

    /// `program args... <worker exe> --lox-worker`, e.g.
    /// `prefix("ssh", ["node1"])`. No shell string is built. For Slurm use
    /// [`Launcher::slurm()`], which has the `srun` options the channel needs.
    ///
    /// ```
    /// let l = lox::Launcher::prefix("ssh", ["-o", "BatchMode=yes", "node1"]);
    /// # let _ = l;
    /// ```
    pub fn prefix<S, I, T>(program: S, args: I) -> Launcher
    where
        S: AsRef<OsStr>,
        I: IntoIterator<Item = T>,
        T: AsRef<OsStr>,
    {
        Launcher {
            prefix: Some((
                program.as_ref().to_owned(),
                args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            )),
            exe: None,
            slurm: false,
        }
    }

    /// Workers as Slurm job steps: `srun --unbuffered --quiet --nodes=1
    /// --ntasks=1 --exact <worker exe> --lox-worker`.
    ///
    /// What each option is for:
    ///
    /// - `--unbuffered` (`-u`): every byte the worker writes is passed on at
    ///   once. Without it Slurm releases a step's output only at newlines, and
    ///   the binary protocol stalls at the first `0x0a` byte. With it the
    ///   worker's stdout is a pseudo-terminal; the worker puts it in raw mode
    ///   and writes each frame whole, so no byte is translated or held back.
    /// - `--quiet` (`-Q`): no informational lines ("job queued and waiting
    ///   for resources") on the parent's stderr; errors still show.
    /// - `--nodes=1 --ntasks=1` (`-N1 -n1`): one worker is one task on one
    ///   node, whatever `SLURM_NTASKS` the allocation set.
    /// - `--exact`: inside an allocation (`sbatch` / `salloc` with
    ///   `--ntasks`), the step gets only the CPUs it asks for, one per task
    ///   (more with `--cpus-per-task`), instead of every CPU of the job on its
    ///   node; steps never share CPUs, so `n` workers need `n` tasks' worth.
    ///   Not `--exclusive`: outside an allocation each `srun` makes a job of
    ///   its own, and `--exclusive` would give each worker a whole node (pass
    ///   it to [`slurm_with`](Launcher::slurm_with) if that is what you want).
    ///
    /// Nothing is read from the environment: `srun` itself reads the
    /// allocation's variables (`SLURM_JOB_ID`, ...) as usual, and the flags
    /// above take precedence over them. `srun` is found on the `PATH`.
    ///
    /// Unlike other prefixes, `srun` runs in a process group of its own, and
    /// is killed (Linux) when the worker's manager in the parent ends, even if
    /// the parent is killed: a killed `srun` cancels its step at once, where
    /// an `srun` killed together with its process group (a Ctrl-C, a
    /// `kill -- -PGID`) would leave the step running until the cluster's
    /// `InactiveLimit`.
    ///
    /// ```
    /// let l = lox::Launcher::slurm();
    /// let shown = format!("{l:?}");
    /// assert!(shown.contains("srun") && shown.contains("--unbuffered"));
    /// ```
    pub fn slurm() -> Launcher {
        Launcher::slurm_with(std::iter::empty::<&str>())
    }

    /// [`Launcher::slurm()`] with more `srun` options, placed after lox's:
    /// partition, account, time limit, GPUs or CPUs per task, memory.
    ///
    /// Each string is one argument (no shell splitting). Options that would
    /// change the number of tasks or nodes break the one-worker-per-step rule:
    /// leave those to lox.
    ///
    /// ```
    /// let l = lox::Launcher::slurm_with([
    ///     "--partition=gpu",
    ///     "--account=proj42",
    ///     "--time=02:00:00",
    ///     "--gpus-per-task=1",
    /// ]);
    /// assert!(format!("{l:?}").contains("--gpus-per-task=1"));
    /// ```
    pub fn slurm_with<I, T>(args: I) -> Launcher
    where
        I: IntoIterator<Item = T>,
        T: AsRef<OsStr>,
    {
        let args = SRUN_ARGS
            .iter()
            .map(OsString::from)
            .chain(args.into_iter().map(|a| a.as_ref().to_owned()));
        Launcher {
            slurm: true,
            ..Launcher::prefix("srun", args)
        }
    }

    /// Path of the worker executable on the target (default: the current
    /// executable's path).
    ///
    /// ```
    /// let l = lox::Launcher::prefix("ssh", ["node1"]).exe("/opt/app/bin/app");
    /// # let _ = l;
    /// ```
    pub fn exe(self, path: impl Into<PathBuf>) -> Launcher {
        Launcher {
            exe: Some(path.into()),
            ..self
        }
    }

    /// The command to start one worker, with piped stdin/stdout, and a
    /// description of it for error messages.
    pub(crate) fn command(&self) -> Result<(Command, String), String> {
        let exe = match &self.exe {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .map_err(|e| format!("cannot locate the current executable: {e}"))?,
        };
        let mut cmd = match &self.prefix {
            None => Command::new(&exe),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&exe);
                c
            }
        };
        cmd.arg(MARKER)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let desc = {
            let mut parts: Vec<String> = Vec::new();
            parts.push(cmd.get_program().to_string_lossy().into_owned());
            parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
            format!("`{}`", parts.join(" "))
        };
        if self.slurm {
            use std::os::unix::process::CommandExt;
            // Not in the parent's process group: a signal to that group (a
            // Ctrl-C, `kill -- -PGID`) would also reach srun's helper that
            // cancels the step when srun dies, and the step would outlive
            // both until InactiveLimit. The parent's death still ends srun
            // (below) and so the step.
            cmd.process_group(0);
        }
        #[cfg(target_os = "linux")]
        if self.prefix.is_none() || self.slurm {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the child between fork and exec and
            // calls only prctl, which is async-signal-safe. The signal fires
            // when the spawning thread (the worker's manager, which lives as
            // long as the worker) ends, including when the parent is killed.
            // A killed srun cancels its step.
            unsafe {
                cmd.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                    Ok(())
                });
            }
        }
        Ok((cmd, desc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(l: &Launcher) -> (String, Vec<String>) {
        let (cmd, _) = l.command().expect("a command");
        (
            cmd.get_program().to_string_lossy().into_owned(),
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
        )
    }

    #[test]
    fn slurm_is_srun_unbuffered_one_task_exact() {
        let (program, a) = args(&Launcher::slurm().exe("/shared/app"));
        assert_eq!(program, "srun");
        assert_eq!(
            a,
            [
                "--unbuffered",
                "--quiet",
                "--nodes=1",
                "--ntasks=1",
                "--exact",
                "/shared/app",
                MARKER
            ]
        );
    }

    #[test]
    fn slurm_with_puts_the_users_options_after_lox_and_before_the_exe() {
        let l = Launcher::slurm_with(["--partition=gpu", "--gpus-per-task=1"]).exe("/x/app");
        let (_, a) = args(&l);
        assert_eq!(&a[..SRUN_ARGS.len()], SRUN_ARGS);
        assert_eq!(
            &a[SRUN_ARGS.len()..],
            ["--partition=gpu", "--gpus-per-task=1", "/x/app", MARKER]
        );
    }

    #[test]
    fn prefix_keeps_its_arguments_as_given() {
        let (program, a) = args(&Launcher::prefix("ssh", ["node1"]).exe("/b"));
        assert_eq!(program, "ssh");
        assert_eq!(a, ["node1", "/b", MARKER]);
    }
}
