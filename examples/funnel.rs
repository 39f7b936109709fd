//! `Funnel`: join results that arrive separately for the same job. Two
//! stages work on each image independently; the funnel hands out an image's
//! results only when both stages have delivered theirs.
//!
//! `cargo run --release --example funnel`

use std::time::Duration;

// ANCHOR: funnel
fn main() {
    let funnel: lox::Funnel<String, u32> = lox::Funnel::new();
    // Input 0, then input 1: `get` returns their items in this order.
    let sizes = funnel.subscribe();
    let labels = funnel.subscribe();
    // ANCHOR_END: funnel

    // ANCHOR: stages
    let sizer = lox::thread(2, move |image: u32| {
        std::thread::sleep(Duration::from_millis(u64::from(image % 3) * 5));
        sizes.put(format!("{}x{}", 64 * image, 48 * image), image);
    });
    let labeller = lox::thread(2, move |image: u32| {
        std::thread::sleep(Duration::from_millis(u64::from(image % 2) * 7));
        labels.put(
            if image % 2 == 0 {
                "cat".to_string()
            } else {
                "dog".to_string()
            },
            image,
        );
    });
    for image in 1..=6 {
        sizer.scatter(image);
        labeller.scatter(image);
    }
    // ANCHOR_END: stages

    // ANCHOR: join
    let mut joined = Vec::new();
    for _ in 1..=6 {
        let (image, items) = funnel.get(); // items in subscription order: size, label
        println!("image {image}: size {}, label {}", items[0], items[1]);
        joined.push((image, items));
    }
    sizer.gather();
    labeller.gather();
    // ANCHOR_END: join

    // ANCHOR: checks
    joined.sort();
    assert_eq!(joined.len(), 6);
    assert_eq!(
        joined[2],
        (3, vec!["192x144".to_string(), "dog".to_string()])
    );
}
// ANCHOR_END: checks
