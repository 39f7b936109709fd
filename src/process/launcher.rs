//! [`Launcher`]: how a worker process is started.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::worker::MARKER;

/// How worker processes are started: a `std::process::Command` template.
///
/// [`Launcher::local()`] (the default) runs the current executable on this
/// machine. [`Launcher::prefix`] puts a program in front, such as `ssh node1`
/// or `srun -N1 -n1`, to run the worker elsewhere: the command is
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
/// ```no_run
/// let pool = lox::process(4, |x: u64| x * 2)
///     .with_launcher(lox::Launcher::prefix("ssh", ["node1"]).exe("/shared/bin/myprog"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Launcher {
    prefix: Option<(OsString, Vec<OsString>)>,
    exe: Option<PathBuf>,
}

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
    /// `prefix("ssh", ["node1"])` or `prefix("srun", ["-N1", "-n1"])`.
    /// No shell string is built.
    ///
    /// ```
    /// let l = lox::Launcher::prefix("srun", ["-N1", "-n1"]);
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
        #[cfg(target_os = "linux")]
        if self.prefix.is_none() {
            use std::os::unix::process::CommandExt;
            // SAFETY: the closure runs in the child between fork and exec and
            // calls only prctl, which is async-signal-safe. The signal fires
            // when the spawning thread (the worker's manager, which lives as
            // long as the worker) ends, including when the parent is killed.
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
