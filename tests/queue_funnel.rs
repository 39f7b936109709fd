//! Funnel: join by job id in subscription order, dropped inputs, timeouts,
//! async gets, stress.

use std::collections::HashSet;
use std::thread;
use std::time::Duration;

use lox::{Funnel, FunnelInput, Timeout};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Funnel<String, u64>>();
    check::<FunnelInput<String, u64>>();
}

#[test]
fn items_in_subscription_order_whatever_the_put_order() {
    let f = Funnel::new();
    let inputs: Vec<_> = (0..4).map(|_| f.subscribe()).collect();
    for (i, input) in inputs.iter().enumerate().rev() {
        assert_eq!(f.try_get(), None);
        input.put(i * 10, "job");
    }
    assert_eq!(f.get(), ("job", vec![0, 10, 20, 30]));
}

#[test]
fn jobs_complete_independently() {
    let f = Funnel::new();
    let (a, b) = (f.subscribe(), f.subscribe());
    a.put('a', 1);
    a.put('a', 2);
    assert_eq!(f.get_timeout(Duration::from_millis(10)), Err(Timeout));
    b.put('b', 2);
    assert_eq!(f.get(), (2, vec!['a', 'b']));
    b.put('b', 1);
    assert_eq!(f.get(), (1, vec!['a', 'b']));
}

#[test]
fn clones_fill_the_same_input() {
    let f = Funnel::new();
    let a = f.subscribe();
    let b = f.subscribe();
    let a2 = a.clone();
    a2.put(1, 0);
    assert_eq!(f.try_get(), None, "a clone is not a new input");
    b.put(2, 0);
    assert_eq!(f.get(), (0, vec![1, 2]));
    drop(a2);
    // `a` is still attached: job 1 needs it.
    b.put(2, 1);
    assert_eq!(f.try_get(), None);
    a.put(1, 1);
    assert_eq!(f.get(), (1, vec![1, 2]));
}

#[test]
fn dropped_input_is_no_longer_required() {
    let f = Funnel::new();
    let (a, b, c) = (f.subscribe(), f.subscribe(), f.subscribe());
    a.put("a", 1);
    b.put("b", 1);
    c.put("c", 2);
    assert_eq!(f.try_get(), None);
    drop(c); // job 1 now only needs a and b: released at once
    assert_eq!(f.get_timeout(LONG).unwrap(), (1, vec!["a", "b"]));
    a.put("a", 2);
    assert_eq!(f.try_get(), None);
    b.put("b", 2);
    // c's item for job 2 was delivered before it left, and is kept in place.
    assert_eq!(f.get(), (2, vec!["a", "b", "c"]));
    a.put("a", 3);
    b.put("b", 3);
    assert_eq!(f.get(), (3, vec!["a", "b"]));
}

#[test]
fn late_subscriber_is_required_for_pending_jobs() {
    let f = Funnel::new();
    let a = f.subscribe();
    let b = f.subscribe();
    a.put(1, 0);
    let c = f.subscribe();
    b.put(2, 0);
    assert_eq!(f.try_get(), None);
    c.put(3, 0);
    assert_eq!(f.get(), (0, vec![1, 2, 3]));
}

#[test]
fn stress_8_inputs_2000_jobs() {
    let f = Funnel::new();
    let inputs: Vec<_> = (0..8).map(|_| f.subscribe()).collect();
    let threads: Vec<_> = inputs
        .into_iter()
        .enumerate()
        .map(|(i, input)| {
            thread::spawn(move || {
                for job in 0..2000u32 {
                    input.put(i, job);
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for _ in 0..2000 {
        let (job, items) = f.get_timeout(LONG).unwrap();
        assert_eq!(items, (0..8).collect::<Vec<_>>());
        assert!(seen.insert(job), "job {job} released twice");
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(seen.len(), 2000);
    assert_eq!(f.try_get(), None);
}

#[tokio::test(flavor = "current_thread")]
async fn get_async_under_tokio() {
    let f = std::sync::Arc::new(Funnel::new());
    let (a, b) = (f.subscribe(), f.subscribe());
    let f2 = f.clone();
    let task = tokio::spawn(async move { f2.get_async().await });
    tokio::task::yield_now().await;
    a.put(1, "j");
    tokio::task::yield_now().await;
    b.put(2, "j");
    assert_eq!(
        tokio::time::timeout(LONG, task).await.unwrap().unwrap(),
        ("j", vec![1, 2])
    );
}

#[actix_rt::test]
async fn get_async_under_actix_rt() {
    let f = std::sync::Arc::new(Funnel::new());
    let a = f.subscribe();
    let f2 = f.clone();
    let task = actix_rt::spawn(async move { f2.get_async().await });
    actix_rt::task::yield_now().await;
    a.put('x', 9u8);
    assert_eq!(task.await.unwrap(), (9, vec!['x']));
}
