//! A worker knows it is a worker before `main`: on Linux (glibc) a function
//! in the executable's `.init_array` runs before `main` (and before any
//! test harness's argument parsing), sees the worker marker as the first
//! argument, and serves jobs there; the process exits without ever running
//! `main`. So a worker runs no user code but its jobs, whether or not `main`
//! calls [`init`](crate::init), and a test binary with the default harness
//! (whose `main` is libtest's, which would reject `--lox-worker`) serves
//! process pools too.
//!
//! Elsewhere [`init`](crate::init) at the top of `main` does the same, later.
//! The parent requires `init()` everywhere (see [`require_init`]), so that a
//! program behaves the same on every platform.

/// glibc calls `.init_array` entries with `(argc, argv, envp)`; the entry
/// reads only `argv[1]`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[used]
#[link_section = ".init_array"]
static BEFORE_MAIN: extern "C" fn(
    libc::c_int,
    *const *const libc::c_char,
    *const *const libc::c_char,
) = before_main;

#[cfg(all(target_os = "linux", target_env = "gnu"))]
extern "C" fn before_main(
    argc: libc::c_int,
    argv: *const *const libc::c_char,
    _envp: *const *const libc::c_char,
) {
    if argc < 2 || argv.is_null() {
        return;
    }
    // SAFETY: glibc passes the process's argc and argv (the same that `main`
    // receives: argc entries, each a NUL-terminated string); argc >= 2, so
    // argv[1] is one of them.
    let first = unsafe { std::ffi::CStr::from_ptr(*argv.add(1)) };
    if first.to_bytes() != super::worker::MARKER.as_bytes() {
        return;
    }
    // What Rust's runtime does before `main`: a write to a closed pipe is
    // an error (EPIPE), not a kill.
    // SAFETY: setting a signal's disposition to SIG_IGN has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    super::worker::serve_and_exit();
}

/// Where the hazard of a forgotten `init()` is documented.
const SEE: &str = "see https://docs.rs/lox/latest/lox/fn.init.html";

/// `Err` with a plain message when `init()` has not run in this process:
/// a parent that starts workers without it would, on a platform that cannot
/// catch workers before `main`, have every worker run `main` up to its first
/// process pool.
pub(crate) fn require_init() -> Result<(), String> {
    if super::worker::init_ran() {
        return Ok(());
    }
    let worker = if super::worker::started_as_worker() {
        " (this process is itself a lox worker, so it starts no workers of its own)"
    } else {
        ""
    };
    Err(format!(
        "main() did not call lox::init() before starting worker processes{worker}: make \
         lox::init() the first statement of main (in a #[test], of the test) ({SEE})"
    ))
}
