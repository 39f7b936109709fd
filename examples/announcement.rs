//! `Announcement`: one-to-many broadcast. A producer announces work items;
//! every subscribed consumer receives every item, in order.
//!
//! `cargo run --release --example announcement`

// ANCHOR: group
fn main() {
    // The producer's end; keep a backlog so consumers that subscribe late
    // still get everything announced before.
    let producer = lox::Announcement::<u32>::with_backlog(None);
    let consumers: Vec<lox::Announcement<u32>> =
        (0..3).map(|_| producer.subscribe().unwrap()).collect();
    // No more subscribers: the backlog can go.
    producer.finalize();
    // ANCHOR_END: group

    // ANCHOR: consumers
    let pool = lox::thread(3, move |(id, peer): (usize, lox::Announcement<u32>)| {
        let mut total = 0;
        loop {
            match peer.get() {
                0 => break, // 0 means "done"
                x => total += x,
            }
        }
        (id, total)
    });
    for (id, peer) in consumers.into_iter().enumerate() {
        pool.scatter((id, peer));
    }
    // ANCHOR_END: consumers
    // ANCHOR: produce
    for x in 1..=100 {
        producer.put(x);
    }
    producer.put(0);
    // ANCHOR_END: produce

    // ANCHOR: gather
    for (id, total) in pool.gather() {
        println!("consumer {id} summed {total}");
        assert_eq!(total, 5050, "every consumer got every item");
    }
}
// ANCHOR_END: gather
