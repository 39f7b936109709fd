//! `LightSwitch`: the janitor and the people, from the Python lox docs.
//!
//! People share the restroom; the janitor needs it empty. The first person in
//! takes the restroom's lock (the light goes on), the last one out releases
//! it; the janitor simply takes the lock, so he waits until nobody is inside,
//! and nobody gets in while he cleans.
//!
//! `cargo run --release --example restroom`

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ANCHOR: switch
fn main() {
    let restroom = lox::Lock::new(()); // held while anyone is inside, or the janitor
    let light = lox::LightSwitch::new(restroom.clone());
    // ANCHOR_END: switch

    // ANCHOR: log
    let inside = Arc::new(AtomicUsize::new(0));
    let janitor_here = Arc::new(AtomicBool::new(false));
    let timeline = Arc::new(Mutex::new(Vec::<String>::new()));
    let start = Instant::now();
    let log = {
        let timeline = timeline.clone();
        move |what: String| {
            let line = format!("{:4} ms  {what}", start.elapsed().as_millis());
            println!("{line}");
            timeline.lock().unwrap().push(what);
        }
    };
    // ANCHOR_END: log

    // ANCHOR: people
    let people = {
        let (light, inside, janitor_here, log) = (
            light.clone(),
            inside.clone(),
            janitor_here.clone(),
            log.clone(),
        );
        lox::thread(4, move |name: &'static str| {
            let _in = light.acquire(); // the first one in turns the light on
            log(format!("{name} enters"));
            inside.fetch_add(1, Ordering::SeqCst);
            // Stay until the janitor has arrived, so that every run tells the
            // same story, then a while longer.
            while !janitor_here.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
            std::thread::sleep(Duration::from_millis(30));
            inside.fetch_sub(1, Ordering::SeqCst);
            log(format!("{name} leaves"));
            // `_in` drops here: the last one out turns the light off
        })
    };
    for name in ["Alice", "Bob", "Carol"] {
        people.scatter(name);
    }
    // ANCHOR_END: people

    // ANCHOR: janitor
    // The janitor arrives while all three are inside.
    while inside.load(Ordering::SeqCst) < 3 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let janitor = {
        let (restroom, inside, log) = (restroom.clone(), inside.clone(), log.clone());
        std::thread::spawn(move || {
            log("janitor waits".into());
            janitor_here.store(true, Ordering::SeqCst);
            let _cleaning = restroom.acquire(); // waits until the last one leaves
            assert_eq!(
                inside.load(Ordering::SeqCst),
                0,
                "the janitor never cleans an occupied restroom"
            );
            log("janitor cleans".into());
            std::thread::sleep(Duration::from_millis(20));
            log("janitor done".into());
            // `_cleaning` drops here: the restroom is free again
        })
    };
    janitor.join().unwrap();
    people.gather();
    // ANCHOR_END: janitor

    // ANCHOR: after
    // Dave comes after the cleaning.
    people.scatter("Dave");
    people.gather();
    assert!(!restroom.is_locked() && light.count() == 0);

    let t = timeline.lock().unwrap();
    let cleans = t.iter().position(|l| l == "janitor cleans").unwrap();
    let entries_before = t[..cleans].iter().filter(|l| l.ends_with("enters")).count();
    let leaves_before = t[..cleans].iter().filter(|l| l.ends_with("leaves")).count();
    assert_eq!(
        (entries_before, leaves_before),
        (3, 3),
        "everyone who entered left before the cleaning"
    );
}
// ANCHOR_END: after
