//! The worker slot's state machine: from what happened to the next state and
//! what the manager does about it. Pure: the manager does the I/O.

use super::connection::{Failure, LaunchError};
use super::scheduler::Head;

/// Workers in a row that may die before taking a job and have their jobs
/// re-sent to another; past that, the jobs fail instead of looping.
const LOST_IDLE_MAX: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum State {
    /// No worker process: the next job starts one.
    #[default]
    Absent,
    /// A worker process is up, with jobs in flight or not.
    Up,
    /// Every handle is gone: settle what is left and return.
    Stopped,
}

/// What the manager saw.
#[derive(Debug)]
pub(crate) enum Event {
    Launched,
    LaunchFailed(Box<LaunchError>),
    /// The running job's reply arrived.
    Answered,
    /// The reply to the last job of the worker's lifespan arrived.
    Spent,
    /// Writing the first jobs to a worker that had none failed: it died
    /// before taking any.
    WriteFailed(std::io::Error),
    /// The worker failed while running a job that was re-sent that many
    /// times before.
    Failed(Failure, usize),
    /// A worker with no job failed (its channel is watched once it has used
    /// shared handles).
    IdleFailed(Failure),
    /// The pool's queue closed.
    JobsClosed,
    /// The pool was dropped.
    Shutdown,
}

/// What the manager does next.
#[derive(Debug)]
pub(crate) enum Step {
    /// Go on: send, read the next reply.
    Go,
    /// Fail every job waiting now rather than launch (and fail) once per
    /// job; the next scatter tries again.
    FailWaiting(Box<LaunchError>),
    /// Stop the worker (after letting it exit by itself if `grace`: a
    /// launcher in between, ssh or srun, then passes on its own exit
    /// status), settle the job it ran as `head` says (`why` is the error of
    /// a failed one), and send the jobs behind it to a fresh worker.
    Replace {
        why: Failure,
        head: Head,
        grace: bool,
    },
    /// The worker could not build its state (`init` panicked, or it died in
    /// `init`; says why): fail the jobs it was given, stop it, back off.
    InitFailed(String),
    /// The worker has run its lifespan: let it exit (its state's `Drop`
    /// runs), and start a fresh one for the next job.
    Retire,
    /// Settle every job left, stop the worker, return.
    Stop,
}

#[derive(Debug, Default)]
pub(crate) struct Machine {
    state: State,
    /// Workers in a row that died before taking a job.
    lost_idle: u8,
}

impl Machine {
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Take `event` to the next state; `retries` is the pool's setting.
    pub(crate) fn next(&mut self, event: Event, retries: usize) -> Step {
        let (state, step) = match (self.state, event) {
            (_, Event::Shutdown | Event::JobsClosed) => (State::Stopped, Step::Stop),
            (State::Absent, Event::Launched) => (State::Up, Step::Go),
            (State::Absent, Event::LaunchFailed(e)) if matches!(*e, LaunchError::Init(..)) => {
                (State::Absent, Step::InitFailed(e.to_string()))
            }
            (State::Absent, Event::LaunchFailed(e)) => (State::Absent, Step::FailWaiting(e)),
            (State::Up, Event::Answered) => {
                self.lost_idle = 0;
                (State::Up, Step::Go)
            }
            (State::Up, Event::Spent) => {
                self.lost_idle = 0;
                (State::Absent, Step::Retire)
            }
            (State::Up, Event::Failed(Failure::Init(why), _)) => {
                let why = Failure::Init(why).to_string();
                (State::Absent, Step::InitFailed(why))
            }
            (State::Up, Event::WriteFailed(e)) if self.lost_idle < LOST_IDLE_MAX => {
                self.lost_idle += 1;
                let why = Failure::Closed(Some(e));
                (State::Absent, replace(why, Head::Resend))
            }
            // Too many: the read that follows fails the job it sent.
            (State::Up, Event::WriteFailed(_)) => (State::Up, Step::Go),
            (State::Up, Event::IdleFailed(why)) => (State::Absent, replace(why, Head::Resend)),
            // Killed to cancel its job: that job is settled, the ones
            // behind it go to a fresh worker as they are.
            (State::Up, Event::Failed(Failure::Cancelled, _)) => {
                (State::Absent, replace(Failure::Cancelled, Head::Resend))
            }
            (State::Up, Event::Failed(failure, attempts)) => {
                // Only a job whose worker died is retried (not one that
                // timed out, or got garbage back).
                let died = matches!(failure, Failure::Closed(_));
                let head = if died && attempts < retries {
                    Head::Retry
                } else {
                    Head::Fail
                };
                (State::Absent, replace(failure, head))
            }
            (state, event) => unreachable!("no transition from {state:?} on {event:?}"),
        };
        self.state = state;
        step
    }
}

fn replace(why: Failure, head: Head) -> Step {
    let grace = head != Head::Resend && matches!(why, Failure::Closed(_));
    Step::Replace { why, head, grace }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn up() -> Machine {
        let mut m = Machine::default();
        assert!(matches!(m.next(Event::Launched, 0), Step::Go));
        assert_eq!(m.state(), State::Up);
        m
    }

    fn died(attempts: usize) -> Event {
        Event::Failed(Failure::Closed(None), attempts)
    }

    fn head_of(step: Step) -> (Head, bool) {
        match step {
            Step::Replace { head, grace, .. } => (head, grace),
            other => panic!("expected a replacement, got {other:?}"),
        }
    }

    #[test]
    fn a_death_mid_job_fails_it_unless_retries_are_left() {
        let mut m = up();
        assert_eq!(head_of(m.next(died(0), 0)), (Head::Fail, true));
        assert_eq!(m.state(), State::Absent);
        let mut m = up();
        assert_eq!(head_of(m.next(died(1), 2)), (Head::Retry, true));
        let mut m = up();
        assert_eq!(head_of(m.next(died(2), 2)), (Head::Fail, true));
    }

    #[test]
    fn timeouts_garbage_and_stray_answers_fail_the_job_without_retry() {
        let failures = [
            Failure::TimedOut(Duration::from_secs(1)),
            Failure::Garbage("x".into()),
            Failure::Stray(3, Some(2)),
        ];
        for failure in failures {
            let mut m = up();
            let step = m.next(Event::Failed(failure, 0), 5);
            // Killed at once: no grace, nothing re-run.
            assert_eq!(head_of(step), (Head::Fail, false));
            assert_eq!(m.state(), State::Absent);
        }
    }

    #[test]
    fn a_worker_killed_to_cancel_its_job_is_replaced_without_retry() {
        let mut m = up();
        let step = m.next(Event::Failed(Failure::Cancelled, 0), 5);
        assert_eq!(head_of(step), (Head::Resend, false));
        assert_eq!(m.state(), State::Absent);
    }

    #[test]
    fn workers_lost_before_a_job_are_replaced_three_times_in_a_row() {
        let lost = || Event::WriteFailed(std::io::ErrorKind::BrokenPipe.into());
        let mut m = up();
        for _ in 0..3 {
            assert_eq!(head_of(m.next(lost(), 0)), (Head::Resend, false));
            assert_eq!(m.state(), State::Absent);
            m.next(Event::Launched, 0);
        }
        // The fourth goes on: reading the reply then fails the job.
        assert!(matches!(m.next(lost(), 0), Step::Go));
        assert_eq!(m.state(), State::Up);
        // A job answered resets the count.
        let mut m = up();
        for _ in 0..3 {
            m.next(lost(), 0);
            m.next(Event::Launched, 0);
        }
        m.next(Event::Answered, 0);
        assert_eq!(head_of(m.next(lost(), 0)), (Head::Resend, false));
    }

    #[test]
    fn init_failures_and_lifespans() {
        let mut m = Machine::default();
        let e = Box::new(LaunchError::Init(
            "worker 0".into(),
            "init panicked: x".into(),
        ));
        let step = m.next(Event::LaunchFailed(e), 0);
        assert!(matches!(&step, Step::InitFailed(w) if w.contains("init panicked: x")));
        assert_eq!(m.state(), State::Absent);
        let mut m = up();
        let again = Event::Failed(Failure::Init("init panicked: y".into()), 0);
        assert!(matches!(m.next(again, 3), Step::InitFailed(w) if w.contains("y")));
        assert_eq!(m.state(), State::Absent);
        let mut m = up();
        assert!(matches!(m.next(Event::Spent, 0), Step::Retire));
        assert_eq!(m.state(), State::Absent);
    }

    #[test]
    fn launches_idle_failures_and_the_end() {
        let mut m = Machine::default();
        let e = Box::new(LaunchError::Setup("no".into()));
        assert!(matches!(
            m.next(Event::LaunchFailed(e), 0),
            Step::FailWaiting(_)
        ));
        assert_eq!(m.state(), State::Absent);
        let mut m = up();
        let idle = Event::IdleFailed(Failure::Closed(None));
        assert_eq!(head_of(m.next(idle, 3)), (Head::Resend, false));
        assert_eq!(m.state(), State::Absent);
        let mut m = up();
        assert!(matches!(m.next(Event::Shutdown, 0), Step::Stop));
        assert_eq!(m.state(), State::Stopped);
        let mut m = Machine::default();
        assert!(matches!(m.next(Event::JobsClosed, 0), Step::Stop));
        assert_eq!(m.state(), State::Stopped);
    }
}
