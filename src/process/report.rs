//! A worker's panic reports: labelled with the worker and the job
//! (`lox worker 1 (pid 2654), job 5: panicked at src/main.rs:9:5:`), and
//! sent to the parent, which prints them above any progress bar it draws,
//! instead of Rust's default `thread 'main' panicked at ...` on the shared
//! stderr (which reads as the parent's main thread, and tears the bar).

use std::cell::Cell;
use std::fs::File;
use std::time::Duration;

use parking_lot::Mutex;

use super::frame;
use super::message::Up;

thread_local! {
    /// The job this thread is running (the job loop's thread only).
    static JOB: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Replace the panic hook: from now on this worker's panics are reported to
/// the parent through `writer`, as worker number `index`.
pub(crate) fn install(writer: &'static Mutex<File>, index: u64, max: usize) {
    let pid = std::process::id();
    std::panic::set_hook(Box::new(move |info| {
        let who = match JOB.with(Cell::get) {
            // The key's low 32 bits are the job's sequence number.
            Some(key) => format!("job {}", key as u32),
            None => format!(
                "thread '{}'",
                std::thread::current().name().unwrap_or("<unnamed>")
            ),
        };
        let at = info
            .location()
            .map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column()))
            .unwrap_or_default();
        let message = crate::error::panic_message(info.payload());
        let mut text = format!("lox worker {index} (pid {pid}), {who}: panicked{at}:\n{message}");
        let trace = std::backtrace::Backtrace::capture();
        if trace.status() == std::backtrace::BacktraceStatus::Captured {
            text.push_str(&format!("\nstack backtrace:\n{trace}"));
        }
        // A panic while this thread writes a frame must not wait on itself.
        let sent = writer
            .try_lock_for(Duration::from_millis(200))
            .is_some_and(|mut w| {
                frame::write_value(&mut *w, &Up::Report(text.clone()), max).is_ok()
            });
        if !sent {
            eprintln!("{text}");
        }
    }));
}

/// Run job `key` on this thread: its panics are reported as that job's.
pub(crate) fn running<T>(key: u64, job: impl FnOnce() -> T) -> T {
    JOB.with(|j| j.set(Some(key)));
    let out = job();
    JOB.with(|j| j.set(None));
    out
}
