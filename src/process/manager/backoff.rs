//! What a worker slot does when its `init` keeps failing: wait a little
//! longer before each new try, and after [`INIT_TRIES`] failures in a row
//! give up for [`GIVE_UP_FOR`] (the manager then launches nothing; its jobs
//! fail with `TaskError::Launch` if every slot has given up). After that
//! window, one more try. Pure: the manager passes the clock in.

use std::time::{Duration, Instant};

/// Failed inits in a row before a slot gives up.
pub(crate) const INIT_TRIES: u32 = 3;
/// The wait after the first failed init; doubled after each further one.
const BACKOFF: Duration = Duration::from_millis(100);
/// How long a slot that gave up stays given up.
pub(crate) const GIVE_UP_FOR: Duration = Duration::from_secs(10);

/// One slot's record of failed inits.
#[derive(Debug, Default)]
pub(crate) struct InitGuard {
    /// Failed inits in a row.
    failures: u32,
    /// No launch before then.
    not_before: Option<Instant>,
    /// Given up until then, and why.
    given_up: Option<(Instant, String)>,
}

/// What follows a failed init.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Try again after this long.
    Retry(Duration),
    /// Too many in a row: give up for [`GIVE_UP_FOR`], for this reason.
    GiveUp(String),
}

/// Whether the slot is given up.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Given<'a> {
    /// No.
    No,
    /// Yes, for this reason.
    Up(&'a str),
    /// Its window has just ended (the slot counts as given up no more).
    Ended,
}

impl InitGuard {
    /// An init failed at `now` because of `why`.
    pub(crate) fn failed(&mut self, why: &str, now: Instant) -> Verdict {
        self.failures += 1;
        if self.failures >= INIT_TRIES {
            let secs = GIVE_UP_FOR.as_secs();
            let why = format!("{why} ({INIT_TRIES} failed inits in a row: gave up for {secs} s)");
            self.not_before = None;
            self.given_up = Some((now + GIVE_UP_FOR, why.clone()));
            return Verdict::GiveUp(why);
        }
        let wait = BACKOFF * 2u32.pow(self.failures - 1);
        self.not_before = Some(now + wait);
        Verdict::Retry(wait)
    }

    /// A worker of this slot answered a job: its init works.
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
        self.not_before = None;
    }

    /// How long to wait at `now` before the next launch.
    pub(crate) fn wait(&self, now: Instant) -> Duration {
        self.not_before
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now))
    }

    /// Is the slot given up at `now`? When its window has passed, it is not
    /// any more, and one failed init gives it up again.
    pub(crate) fn given_up(&mut self, now: Instant) -> Given<'_> {
        if matches!(&self.given_up, Some((until, _)) if now >= *until) {
            self.given_up = None;
            self.failures = INIT_TRIES - 1;
            return Given::Ended;
        }
        match &self.given_up {
            None => Given::No,
            Some((_, why)) => Given::Up(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_then_gives_up_then_tries_once_more() {
        let t0 = Instant::now();
        let mut g = InitGuard::default();
        assert_eq!(g.given_up(t0), Given::No);
        assert_eq!(g.failed("boom", t0), Verdict::Retry(BACKOFF));
        assert_eq!(g.wait(t0), BACKOFF);
        assert_eq!(g.wait(t0 + BACKOFF), Duration::ZERO);
        assert_eq!(g.failed("boom", t0), Verdict::Retry(BACKOFF * 2));
        let why = "boom (3 failed inits in a row: gave up for 10 s)";
        assert_eq!(g.failed("boom", t0), Verdict::GiveUp(why.into()));
        assert_eq!(g.wait(t0), Duration::ZERO);
        assert_eq!(g.given_up(t0 + GIVE_UP_FOR / 2), Given::Up(why));
        assert_eq!(g.given_up(t0 + GIVE_UP_FOR), Given::Ended);
        assert_eq!(g.given_up(t0 + GIVE_UP_FOR), Given::No);
        // One more failure after the window gives up again.
        let again = g.failed("again", t0 + GIVE_UP_FOR);
        assert!(matches!(again, Verdict::GiveUp(w) if w.starts_with("again")));
    }

    #[test]
    fn a_job_answered_resets_the_count() {
        let t0 = Instant::now();
        let mut g = InitGuard::default();
        g.failed("a", t0);
        g.failed("b", t0);
        g.succeeded();
        assert_eq!(g.wait(t0), Duration::ZERO);
        assert_eq!(g.failed("c", t0), Verdict::Retry(BACKOFF));
    }
}
