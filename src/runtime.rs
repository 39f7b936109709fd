//! The hidden actix `System`.
//!
//! lox is used from plain synchronous `fn main()`: nobody writes `#[actix::main]`.
//! The first piece of lox that needs an actor (a pool's Supervisor, a broker)
//! starts one actix `System` on a background thread named `lox-actix` and keeps
//! its arbiter handle; actors are then started on that arbiter from any thread
//! with `Actor::start_in_arbiter`. Callers never enter the System themselves, so
//! no `block_on` nests and no caller thread needs a System of its own.
//! Nothing blocking runs on that thread: blocking waits happen on the caller's
//! thread, async waits register wakers.

use std::sync::OnceLock;

use actix::prelude::*;

static ARBITER: OnceLock<actix::ArbiterHandle> = OnceLock::new();

/// The arbiter of lox's background System, started on first use.
pub(crate) fn arbiter() -> &'static actix::ArbiterHandle {
    ARBITER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("lox-actix".into())
            .spawn(move || {
                let system = System::new();
                tx.send(System::current().arbiter().clone())
                    .expect("lox: runtime start-up channel closed");
                // Runs until the process exits; the System is never stopped.
                if let Err(e) = system.run() {
                    log::error!("lox: the actix system stopped with an error: {e}");
                }
            })
            .expect("lox: could not spawn the actix runtime thread");
        rx.recv()
            .expect("lox: the actix runtime thread died during start-up")
    })
}

/// Start an actor on lox's background System and return its address.
pub(crate) fn start<A, F>(f: F) -> Addr<A>
where
    A: Actor<Context = Context<A>>,
    F: FnOnce(&mut Context<A>) -> A + Send + 'static,
{
    A::start_in_arbiter(arbiter(), f)
}
