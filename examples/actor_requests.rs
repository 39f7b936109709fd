//! An actix actor answering concurrent requests, each request submitting its
//! own jobs to a pool's Supervisor (`Submit`) and awaiting its own `Job`s;
//! then why a shared `Gather` would mix requests.
//!
//! `cargo run --release --example actor_requests`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use lox::actors::{Gather, Scatter, Submit, Supervisor};
use lox::TaskError;

// ANCHOR: job
/// The job: price one item (20 ms of waiting stands in for a database).
fn price(item: u32) -> u64 {
    std::thread::sleep(Duration::from_millis(20));
    u64::from(item) * 100 + 99
}
// ANCHOR_END: job

// ANCHOR: actor
/// A request: price these items.
struct Quote {
    items: Vec<u32>,
}

impl Message for Quote {
    type Result = Result<Vec<u64>, TaskError>;
}

/// The actor: answers `Quote`s with the pool behind the `prices` address.
struct Shop {
    prices: Addr<Supervisor<u32, u64>>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

impl Actor for Shop {
    type Context = Context<Self>;
}
// ANCHOR_END: actor

// ANCHOR: handler
impl Handler<Quote> for Shop {
    // A future: the actor takes the next request while this one waits.
    type Result = ResponseFuture<Result<Vec<u64>, TaskError>>;

    fn handle(&mut self, quote: Quote, _: &mut Context<Self>) -> Self::Result {
        let prices = self.prices.clone();
        let (in_flight, most) = (self.in_flight.clone(), self.most_in_flight.clone());
        Box::pin(async move {
            most.fetch_max(
                in_flight.fetch_add(1, Ordering::SeqCst) + 1,
                Ordering::SeqCst,
            );
            let mut jobs = Vec::new();
            for item in quote.items {
                // Submit answers with a Job: a future that owns this job's result.
                jobs.push(
                    prices
                        .send(Submit::new(item))
                        .await
                        .expect("the pool is alive"),
                );
            }
            let out = futures::future::try_join_all(jobs).await; // ours, in our order
            in_flight.fetch_sub(1, Ordering::SeqCst);
            out
        })
    }
}
// ANCHOR_END: handler

fn main() {
    actix::System::new().block_on(async {
        // ANCHOR: requests
        let pool = lox::thread(8, price);
        let shop = Shop {
            prices: pool.supervisor(),
            in_flight: Arc::default(),
            most_in_flight: Arc::default(),
        };
        let most_in_flight = shop.most_in_flight.clone();
        let shop = shop.start();

        // Five requests at once, ten items each.
        let requests = (0..5u32).map(|r| {
            let items = (0..10).map(|i| r * 100 + i).collect();
            shop.send(Quote { items })
        });
        let replies = futures::future::join_all(requests).await;

        for (r, reply) in (0u32..).zip(replies) {
            let prices = reply.expect("the shop is alive").expect("no job failed");
            let expected: Vec<u64> = (0..10).map(|i| price_of(r * 100 + i)).collect();
            assert_eq!(prices, expected); // exactly its own, in its own order
            println!(
                "request {r}: {} prices, {} .. {}",
                prices.len(),
                prices[0],
                prices[9]
            );
        }
        println!(
            "at most {} requests were in flight at once",
            most_in_flight.load(Ordering::SeqCst)
        );
        // ANCHOR_END: requests

        // ANCHOR: mixed
        // The mistake: Scatter, then Gather, from two requests that interleave
        // (as concurrent requests do). A Gather takes every job scattered before it.
        let addr = pool.supervisor();
        for item in [1, 2, 3] {
            addr.send(Scatter(item)).await.unwrap(); // request A
        }
        for item in [7, 8] {
            addr.send(Scatter(item)).await.unwrap(); // request B
        }
        let a = addr.send(Gather::new()).await.unwrap(); // request A's gather
        let b = addr.send(Gather::new()).await.unwrap(); // request B's gather
        let a: Vec<u64> = a.into_iter().map(Result::unwrap).collect();
        println!("request A's Gather got {} prices: {a:?}", a.len());
        println!("request B's Gather got {} prices", b.len());
        // ANCHOR_END: mixed

        // ANCHOR: stats
        let stats = addr.send(lox::actors::Stats).await.unwrap();
        println!(
            "the pool's Supervisor: {} workers, {} jobs done, {} failed",
            stats.workers, stats.done, stats.failed
        );
        // ANCHOR_END: stats
    });
}

/// What `price` returns, without the wait (to check the replies).
fn price_of(item: u32) -> u64 {
    u64::from(item) * 100 + 99
}
