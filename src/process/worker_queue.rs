//! The worker's queue of jobs read ahead, and the jobs it is told to skip.
//!
//! The parent sends jobs ahead (the next one is in the pipe while the
//! current one runs) and cannot take them back; when one of them is
//! cancelled it writes a `Skip` of its id behind it. Before each job the
//! worker reads whatever has already arrived (without waiting), so a `Skip`
//! that came in while the previous job ran is seen before the job it names
//! starts: that job is answered `Status::Skipped` and never runs. A `Skip`
//! names jobs sent before it, so an id that is not queued here has run
//! already (it raced with the cancel) and is forgotten.

use std::collections::VecDeque;

use super::frame;
use super::message::Down;

/// What reaches the job loop.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// A job's whole frame.
    Job(Vec<u8>),
    /// Jobs sent before, not to run.
    Skip(Vec<u64>),
}

/// Jobs read and not yet run, in order; `None`: skipped.
#[derive(Default)]
pub(crate) struct Queue {
    jobs: VecDeque<(u64, Option<Vec<u8>>)>,
    /// Buffers of jobs that ran, to read the next ones into.
    spare: Vec<Vec<u8>>,
}

impl Queue {
    /// A buffer to read a frame into.
    pub(crate) fn spare(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// The buffer of a job that ran, for a later frame (a few small ones
    /// are kept).
    pub(crate) fn recycle(&mut self, buf: Vec<u8>) {
        if self.spare.len() < 4 && buf.capacity() <= 64 << 10 {
            self.spare.push(buf);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Take in what was read. A frame that is not a job goes in as is: the
    /// job loop reports it when its turn comes.
    pub(crate) fn take(&mut self, incoming: Incoming) {
        match incoming {
            Incoming::Job(body) => {
                let id = match frame::take::<Down>(&mut &body[..]) {
                    Ok(Down::Job { id, .. }) => id,
                    _ => u64::MAX,
                };
                self.jobs.push_back((id, Some(body)));
            }
            Incoming::Skip(ids) => {
                for (id, body) in self.jobs.iter_mut() {
                    if ids.contains(id) {
                        *body = None;
                    }
                }
            }
        }
    }

    /// The next job: its id and its frame (`None`: skip it).
    pub(crate) fn pop(&mut self) -> Option<(u64, Option<Vec<u8>>)> {
        self.jobs.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::entry::Entry;

    fn job(id: u64) -> Incoming {
        let mut buf = Vec::new();
        frame::push(
            &mut buf,
            &Down::Job {
                id,
                entry: Entry { func: 0, tramp: 0 },
            },
        )
        .unwrap();
        Incoming::Job(buf)
    }

    #[test]
    fn skips_name_queued_jobs_only() {
        let mut q = Queue::default();
        q.take(job(1));
        q.take(job(2));
        q.take(job(3));
        q.take(Incoming::Skip(vec![2, 7]));
        let order: Vec<(u64, bool)> = std::iter::from_fn(|| q.pop())
            .map(|(id, body)| (id, body.is_some()))
            .collect();
        assert_eq!(order, [(1, true), (2, false), (3, true)]);
        assert!(q.is_empty());
    }
}
