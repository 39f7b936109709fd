//! The Supervisor actor: a pool's face in an actix application.
//!
//! Every pool has one Supervisor, started on lox's background actix System the
//! first time [`Pool::supervisor`](crate::Pool::supervisor) asks for its
//! address. It shares the pool core with the pool's handles (numbering,
//! workers, reorder buffer) and answers [`Scatter`], [`Gather`] and
//! [`Pending`] messages, so an actor can use a pool actor-to-actor without ever
//! blocking its event loop: a `Gather` resolves as a future woken when the
//! outcomes arrive. The per-job hot path of the handles does not pass through
//! this mailbox.
//!
//! The address is a full handle: the pool keeps running while any handle or
//! any `Addr<Supervisor>` is alive.

use std::marker::PhantomData;
use std::sync::Arc;

use actix::prelude::*;

use super::collector::Ticket;
use super::pool::Front;
use super::wakers::AllDone;
use crate::error::TaskError;

/// The actor that owns a pool: answers [`Scatter`], [`Gather`] and [`Pending`].
///
/// ```
/// use lox::actors::{Gather, Scatter};
///
/// let pool = lox::thread(2, |x: u32| x + 1);
/// let addr = pool.supervisor();
/// let outcomes = actix_rt::System::new().block_on(async move {
///     addr.send(Scatter(1)).await.unwrap();
///     addr.send(Scatter(2)).await.unwrap();
///     addr.send(Gather::new()).await.unwrap()
/// });
/// assert_eq!(outcomes.into_iter().map(Result::unwrap).collect::<Vec<_>>(), vec![2, 3]);
/// ```
pub struct Supervisor<A: Send + 'static, R: Send + 'static> {
    core: Arc<dyn Front<A, R>>,
}

impl<A: Send + 'static, R: Send + 'static> Supervisor<A, R> {
    pub(crate) fn new(core: Arc<dyn Front<A, R>>) -> Self {
        Supervisor { core }
    }
}

impl<A: Send + 'static, R: Send + 'static> Actor for Supervisor<A, R> {
    type Context = Context<Self>;
}

/// Message: scatter one job; answers with its [`Ticket`]. Never waits for the job.
#[derive(Debug)]
pub struct Scatter<A>(pub A);

impl<A: Send + 'static> Message for Scatter<A> {
    type Result = Ticket;
}

impl<A: Send + 'static, R: Send + 'static> Handler<Scatter<A>> for Supervisor<A, R> {
    type Result = MessageResult<Scatter<A>>;

    fn handle(&mut self, msg: Scatter<A>, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.scatter(msg.0))
    }
}

/// Message: gather every job scattered before it (through any handle or
/// message), answering with one outcome per job in scatter order, like
/// `try_gather`. The actor's event loop never blocks, and no thread waits.
///
/// Pool-wide, like [`Pool::gather`](crate::Pool::gather): it takes the jobs
/// of every caller, so it suits an actor that is the pool's only user. An
/// actor answering concurrent requests should [`Submit`] each request's jobs
/// and await their [`Job`](crate::Job)s instead: a shared `Gather` would
/// hand one request the results of the others.
pub struct Gather<R> {
    _result: PhantomData<fn() -> R>,
}

impl<R> Gather<R> {
    /// A gather request (the result type is inferred from the address).
    pub fn new() -> Self {
        Gather {
            _result: PhantomData,
        }
    }
}

impl<R> Default for Gather<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R> std::fmt::Debug for Gather<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Gather")
    }
}

impl<R: Send + 'static> Message for Gather<R> {
    type Result = Vec<Result<R, TaskError>>;
}

impl<A: Send + 'static, R: Send + 'static> Handler<Gather<R>> for Supervisor<A, R> {
    type Result = ResponseFuture<Vec<Result<R, TaskError>>>;

    fn handle(&mut self, _: Gather<R>, _: &mut Context<Self>) -> Self::Result {
        // Cut now, in mailbox order, so the gather takes exactly the jobs
        // scattered before it; the future wakes as outcomes arrive.
        let collector = self.core.collector().clone();
        let done = AllDone::new(collector.clone(), collector.cut());
        Box::pin(async move { done.await.into_outcomes() })
    }
}

/// Message: how many jobs are scattered but not yet started (`len()`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Pending;

impl Message for Pending {
    type Result = usize;
}

impl<A: Send + 'static, R: Send + 'static> Handler<Pending> for Supervisor<A, R> {
    type Result = usize;

    fn handle(&mut self, _: Pending, _: &mut Context<Self>) -> usize {
        self.core.len()
    }
}

/// Message: a [`Stats`](crate::Stats) snapshot of the pool, as
/// [`Pool::stats`](crate::Pool::stats) gives.
///
/// ```
/// let pool = lox::thread(2, |x: u32| x);
/// let addr = pool.supervisor();
/// let stats = actix_rt::System::new()
///     .block_on(async move { addr.send(lox::actors::Stats).await.unwrap() });
/// assert_eq!(stats.done, 0);
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats;

impl Message for Stats {
    type Result = crate::Stats;
}

impl<A: Send + 'static, R: Send + 'static> Handler<Stats> for Supervisor<A, R> {
    type Result = MessageResult<Stats>;

    fn handle(&mut self, _: Stats, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.stats())
    }
}

/// Message: submit one job; answers with its [`Job`](crate::Job), a future
/// that owns the job's outcome. An actor awaits its own results this way:
/// unlike [`Gather`], which takes every job scattered before it by anyone,
/// a `Job` is never part of another caller's results.
///
/// ```
/// use lox::actors::Submit;
///
/// let pool = lox::thread(2, |x: u32| x * 3);
/// let addr = pool.supervisor();
/// let out = actix_rt::System::new().block_on(async move {
///     let job = addr.send(Submit::new(14)).await.unwrap();
///     job.await
/// });
/// assert_eq!(out, Ok(42));
/// ```
pub struct Submit<A, R> {
    args: A,
    _result: PhantomData<fn() -> R>,
}

impl<A, R> Submit<A, R> {
    /// A submit request (`R` is inferred from the address).
    pub fn new(args: A) -> Self {
        Submit {
            args,
            _result: PhantomData,
        }
    }
}

impl<A, R> std::fmt::Debug for Submit<A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Submit")
    }
}

impl<A: Send + 'static, R: Send + 'static> Message for Submit<A, R> {
    type Result = crate::Job<R>;
}

impl<A: Send + 'static, R: Send + 'static> Handler<Submit<A, R>> for Supervisor<A, R> {
    type Result = MessageResult<Submit<A, R>>;

    fn handle(&mut self, msg: Submit<A, R>, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.core.clone().submit(msg.args))
    }
}
