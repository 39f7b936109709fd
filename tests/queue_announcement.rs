//! Announcement: broadcast to every other peer, backlog replay, finalize,
//! timeouts, async gets.

use std::thread;
use std::time::Duration;

use lox::{Announcement, SubscribeFinalizedError, Timeout};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn send_sync_and_error_traits() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Announcement<u32>>();
    check::<SubscribeFinalizedError>();
    let e: Box<dyn std::error::Error + Send + Sync + 'static> = Box::new(SubscribeFinalizedError);
    assert!(!e.to_string().is_empty());
}

#[test]
fn put_reaches_every_peer_but_itself() {
    let a = Announcement::new();
    let b = a.subscribe().unwrap();
    let c = b.subscribe().unwrap();
    assert_eq!(a.subscribers(), 3);
    a.put(1);
    b.put(2);
    c.put(3);
    assert_eq!((a.get(), a.get(), a.try_get()), (2, 3, None));
    assert_eq!((b.get(), b.get(), b.try_get()), (1, 3, None));
    assert_eq!((c.get(), c.get(), c.try_get()), (1, 2, None));
}

#[test]
fn no_backlog_by_default() {
    let a = Announcement::new();
    a.put("early");
    let b = a.subscribe().unwrap();
    assert_eq!(b.qsize(), 0);
    a.put("late");
    assert_eq!(b.get(), "late");
}

#[test]
fn unbounded_backlog_replays_everything_until_finalize() {
    let a = Announcement::with_backlog(None);
    for i in 0..1000 {
        a.put(i);
    }
    let b = a.subscribe().unwrap();
    assert_eq!(b.qsize(), 1000);
    assert_eq!(
        (0..1000).map(|_| b.get()).collect::<Vec<_>>(),
        (0..1000).collect::<Vec<_>>()
    );
    b.finalize();
    assert_eq!(a.subscribe().unwrap_err(), SubscribeFinalizedError);
    assert_eq!(b.subscribe().unwrap_err(), SubscribeFinalizedError);
    // Peers keep talking after finalize.
    a.put(7);
    assert_eq!(b.get(), 7);
}

#[test]
fn bounded_backlog_keeps_the_last_n() {
    let a = Announcement::with_backlog(Some(3));
    for i in 0..10 {
        a.put(i);
    }
    let b = a.subscribe().unwrap();
    assert_eq!((b.get(), b.get(), b.get(), b.try_get()), (7, 8, 9, None));
}

#[test]
#[should_panic(expected = "at least one item")]
fn zero_backlog_panics() {
    let _ = Announcement::<u8>::with_backlog(Some(0));
}

#[test]
fn dropped_peer_leaves_the_group() {
    let a = Announcement::new();
    let b = a.subscribe().unwrap();
    assert_eq!(a.subscribers(), 2);
    drop(b);
    assert_eq!(a.subscribers(), 1);
    a.put(1); // nobody to receive it; must not block or fail
    assert_eq!(a.qsize(), 0);
}

#[test]
fn get_timeout_and_blocking_get_across_threads() {
    let a = Announcement::new();
    let b = a.subscribe().unwrap();
    assert_eq!(b.get_timeout(Duration::from_millis(10)), Err(Timeout));
    let producer = thread::spawn(move || {
        for i in 0..10_000 {
            a.put(i);
        }
        a
    });
    let got: Vec<_> = (0..10_000).map(|_| b.get_timeout(LONG).unwrap()).collect();
    assert_eq!(got, (0..10_000).collect::<Vec<_>>());
    let a = producer.join().unwrap();
    assert_eq!(a.qsize(), 0);
}

#[test]
fn many_to_many_exact_counts() {
    let root = Announcement::new();
    let peers: Vec<_> = (0..8).map(|_| root.subscribe().unwrap()).collect();
    let threads: Vec<_> = peers
        .into_iter()
        .enumerate()
        .map(|(p, peer)| {
            thread::spawn(move || {
                for i in 0..500 {
                    peer.put((p, i));
                }
                peer
            })
        })
        .collect();
    let peers: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(root.qsize(), 8 * 500);
    for (p, peer) in peers.iter().enumerate() {
        assert_eq!(peer.qsize(), 7 * 500);
        let items: Vec<(usize, usize)> = (0..7 * 500).map(|_| peer.get()).collect();
        assert!(items.iter().all(|&(from, _)| from != p));
        // Per sender, order is kept.
        for from in (0..8).filter(|&f| f != p) {
            let seq: Vec<_> = items.iter().filter(|x| x.0 == from).map(|x| x.1).collect();
            assert_eq!(seq, (0..500).collect::<Vec<_>>());
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn get_async_under_tokio() {
    let a = Announcement::new();
    let b = a.subscribe().unwrap();
    let task = tokio::spawn(async move { (b.get_async().await, b) });
    tokio::task::yield_now().await;
    a.put(5u8);
    let (v, _b) = tokio::time::timeout(LONG, task).await.unwrap().unwrap();
    assert_eq!(v, 5);
}

#[actix_rt::test]
async fn get_async_under_actix_rt() {
    let a = Announcement::new();
    let b = a.subscribe().unwrap();
    let task = actix_rt::spawn(async move { b.get_async().await });
    actix_rt::task::yield_now().await;
    a.put("x");
    assert_eq!(task.await.unwrap(), "x");
}
