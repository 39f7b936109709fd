//! A worker slot's lifecycle beyond deaths: a failed `init` (the jobs given
//! to that worker fail, the slot backs off, then gives up for a while), a
//! worker retired after its lifespan, and what a slot that gave up does with
//! jobs meanwhile.

use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::de::DeserializeOwned;

use super::{Event, Given, Manager, Verdict, EXIT_GRACE, GIVEN_UP_POLL, RETIRE_GRACE};
use crate::error::TaskError;

impl<R: DeserializeOwned + Send + 'static> Manager<R> {
    /// Before a launch: wait out the back-off after a failed init, and while
    /// the slot has given up, launch nothing (its jobs fail at once if every
    /// slot has given up; otherwise it leaves them to the others). `Some`:
    /// the pool ended meanwhile.
    pub(super) fn hold_off(&mut self) -> Option<Event> {
        loop {
            if self.control.is_shut_down() {
                return Some(Event::Shutdown);
            }
            let why = match self.guard.given_up(Instant::now()) {
                Given::No => break,
                Given::Ended => {
                    self.control.given_up.fetch_sub(1, Ordering::AcqRel);
                    log::info!("lox: worker {}: trying init once more", self.slot);
                    break;
                }
                Given::Up(why) => why.to_owned(),
            };
            if !self.control.all_given_up() {
                std::thread::sleep(GIVEN_UP_POLL);
                continue;
            }
            let why = TaskError::Launch(why);
            let held = self.desk().sched.take_all();
            for job in held {
                self.fail(job.key, why.clone());
            }
            match self.jobs.recv_timeout(GIVEN_UP_POLL) {
                Ok(job) => self.fail(job.key, why),
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Some(Event::JobsClosed)
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            }
        }
        let end = Instant::now() + self.guard.wait(Instant::now());
        while Instant::now() < end {
            if self.control.is_shut_down() {
                return Some(Event::Shutdown);
            }
            let left = end.saturating_duration_since(Instant::now());
            std::thread::sleep(left.min(GIVEN_UP_POLL));
        }
        None
    }

    /// The worker could not build its state (`why`): stop it, fail the jobs
    /// it was given, count the failure; back off or give up.
    pub(super) fn init_failed(&mut self, why: String) {
        let why = match self.take_conn() {
            Some(mut conn) => {
                conn.await_exit(EXIT_GRACE); // it exits by itself after saying why
                let status = conn.reap(&self.control);
                format!("worker process {} ({status}) {why}", conn.pid)
            }
            None => why,
        };
        self.set_alive(false);
        self.meter()
            .restarted(self.slot, format!("init failed: {why}"));
        let why = match self.guard.failed(&why, Instant::now()) {
            Verdict::Retry(wait) => {
                log::warn!("lox: worker {}: {why}; trying again in {wait:?}", self.slot);
                why
            }
            Verdict::GiveUp(why) => {
                self.control.given_up.fetch_add(1, Ordering::AcqRel);
                log::error!("lox: worker {}: {why}", self.slot);
                why
            }
        };
        let held = self.desk().sched.take_all();
        for job in held {
            self.fail(job.key, TaskError::Launch(why.clone()));
        }
    }

    /// The worker has run its lifespan: ask it to drop its state and exit,
    /// reap it; the next job starts a fresh one.
    pub(super) fn retire(&mut self) {
        let Some(mut conn) = self.take_conn() else {
            return;
        };
        let asked = conn.retire();
        if asked.is_ok() {
            conn.await_exit(RETIRE_GRACE);
        }
        let status = conn.reap(&self.control);
        self.set_alive(false);
        let jobs = self.control.config.lock().lifespan.unwrap_or(0);
        let why = format!(
            "worker process {} retired after its lifespan of {jobs} jobs ({status})",
            conn.pid
        );
        self.meter().restarted(self.slot, why);
    }
}
