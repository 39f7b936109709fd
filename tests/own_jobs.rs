//! Jobs of one's own (issue 12): `submit`/`Job`, batches, lazy maps,
//! `max_pending`, cancellation and `results()`, on thread pools. Concurrent
//! callers of one pool never see each other's results.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, Sender};
use lox::TaskError;

const DEADLINE: Duration = Duration::from_secs(60);

/// A one-worker pool whose job `0` holds the worker until `go` is sent;
/// returns once job 0 is running. Other jobs return `x * 10`, counted in
/// `ran`.
fn held_pool() -> (lox::Thread<u32, u32>, Sender<()>, Arc<AtomicUsize>) {
    let (started_tx, started_rx) = unbounded::<()>();
    let (go_tx, go_rx) = unbounded::<()>();
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let pool = lox::thread(1, move |x: u32| {
        if x == 0 {
            started_tx.send(()).unwrap();
            go_rx.recv_timeout(DEADLINE).unwrap();
        }
        r2.fetch_add(1, Ordering::SeqCst);
        x * 10
    });
    pool.scatter(0);
    started_rx.recv_timeout(DEADLINE).unwrap();
    (pool, go_tx, ran)
}

#[test]
fn submitted_jobs_own_their_results_and_are_not_gathered() {
    let pool = lox::thread(4, |x: u64| x + 1);
    pool.scatter(100);
    let jobs: Vec<_> = (0..50).map(|i| pool.submit(i)).collect();
    assert_eq!(pool.gather(), vec![101], "a gather took submitted jobs");
    let seqs: Vec<u64> = jobs.iter().map(|j| j.seq()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seq not increasing: {seqs:?}"
    );
    for (i, job) in jobs.into_iter().enumerate() {
        assert_eq!(job.wait(), Ok(i as u64 + 1));
    }
}

#[test]
fn concurrent_submitters_each_get_their_own() {
    let pool = lox::thread(3, |x: u64| x * 2);
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let pool = &pool;
            s.spawn(move || {
                let jobs: Vec<_> = (0..200).map(|i| pool.submit(t * 1000 + i)).collect();
                let got: Vec<u64> = jobs.into_iter().map(|j| j.wait().unwrap()).collect();
                let want: Vec<u64> = (0..200).map(|i| (t * 1000 + i) * 2).collect();
                assert_eq!(got, want);
            });
        }
    });
}

#[test]
fn a_job_is_a_future_under_actix() {
    let pool = lox::thread(2, |x: u32| x + 1);
    let out = actix_rt::System::new().block_on(async move {
        let jobs: Vec<_> = (0..20).map(|i| pool.submit(i)).collect();
        futures::future::join_all(jobs).await
    });
    assert_eq!(out, (1..=20).map(Ok).collect::<Vec<_>>());
}

#[test]
fn five_actor_requests_with_submit_get_their_own_results() {
    use lox::actors::Submit;
    let pool = lox::thread(2, |x: u32| x * 3);
    let addr = pool.supervisor();
    let replies = actix_rt::System::new().block_on(async move {
        let requests = (0..5u32).map(|r| {
            let addr = addr.clone();
            async move {
                let mut jobs = Vec::new();
                for i in 0..10 {
                    jobs.push(addr.send(Submit::new(r * 100 + i)).await.unwrap());
                }
                futures::future::join_all(jobs).await
            }
        });
        futures::future::join_all(requests).await
    });
    for (r, reply) in replies.into_iter().enumerate() {
        let want: Vec<_> = (0..10).map(|i| Ok((r as u32 * 100 + i) * 3)).collect();
        assert_eq!(reply, want, "request {r}");
    }
}

#[test]
fn wait_timeout_times_out_then_delivers_and_the_job_is_spent() {
    let (pool, go, _) = held_pool();
    let job = pool.submit(7);
    assert_eq!(
        job.wait_timeout(Duration::from_millis(20)),
        Err(lox::Timeout)
    );
    assert!(!job.is_done());
    go.send(()).unwrap();
    assert_eq!(job.wait_timeout(DEADLINE), Ok(Ok(70)));
    assert!(job.is_done());
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.wait()));
    let msg = common::panic_text(again.unwrap_err());
    assert!(msg.contains("waited for already"), "{msg}");
}

#[test]
fn cancelling_a_queued_job_means_it_never_runs() {
    let (pool, go, ran) = held_pool();
    let keep = pool.submit(1);
    let drop_me = pool.submit(2);
    let keep2 = pool.submit(3);
    assert!(drop_me.cancel());
    assert!(drop_me.cancel(), "cancel is idempotent");
    go.send(()).unwrap();
    assert_eq!(keep.wait(), Ok(10));
    assert_eq!(keep2.wait(), Ok(30));
    assert_eq!(drop_me.wait(), Err(TaskError::Cancelled));
    assert_eq!(pool.gather(), vec![0]);
    assert_eq!(ran.load(Ordering::SeqCst), 3, "jobs 0, 1, 3 ran; 2 did not");
}

#[test]
fn cancelling_a_running_thread_job_drops_its_result_and_a_finished_one_is_kept() {
    let (pool, go, ran) = held_pool();
    let done = pool.submit(5);
    go.send(()).unwrap();
    assert_eq!(pool.gather(), vec![0]);
    assert!(common::eventually(DEADLINE, || done.is_done()));
    assert!(!done.cancel(), "a finished job cannot be cancelled");
    assert_eq!(done.wait(), Ok(50));
    // Running: submit a job that blocks, cancel while it runs.
    let (started_tx, started_rx) = unbounded::<()>();
    let (go_tx, go_rx) = unbounded::<()>();
    let pool2 = lox::thread(1, move |_: ()| {
        started_tx.send(()).unwrap();
        go_rx.recv_timeout(DEADLINE).unwrap();
        1
    });
    let job = pool2.submit(());
    started_rx.recv_timeout(DEADLINE).unwrap();
    assert!(job.cancel());
    go_tx.send(()).unwrap();
    assert_eq!(job.wait(), Err(TaskError::Cancelled));
    drop(ran);
}

#[test]
fn cancel_pending_cancels_every_lane_and_loses_nothing() {
    let (pool, go, ran) = held_pool();
    for i in 1..=100 {
        pool.scatter(i);
    }
    let batch = pool.batch();
    for i in 1..=50 {
        batch.scatter(i);
    }
    let job = pool.submit(9);
    let cancelled = pool.cancel_pending();
    assert_eq!(cancelled, 151, "100 scatters, 50 batch jobs, 1 submit");
    assert_eq!(pool.len(), 0);
    go.send(()).unwrap();
    let out = pool.try_gather();
    assert_eq!(out.len(), 101);
    assert_eq!(out[0], Ok(0));
    assert!(out[1..].iter().all(|o| *o == Err(TaskError::Cancelled)));
    let bout = batch.try_gather();
    assert_eq!(bout.len(), 50);
    assert!(bout.iter().all(|o| *o == Err(TaskError::Cancelled)));
    assert_eq!(job.wait(), Err(TaskError::Cancelled));
    assert_eq!(ran.load(Ordering::SeqCst), 1, "only job 0 ran");
    // The pool works on afterwards.
    pool.scatter(4);
    assert_eq!(pool.gather(), vec![40]);
}

#[test]
fn ten_threads_with_batches_get_exactly_their_own_in_order() {
    let pool = lox::thread(4, |x: u64| {
        if x % 7 == 0 {
            std::thread::yield_now();
        }
        x * 3
    });
    pool.scatter(1);
    std::thread::scope(|s| {
        for t in 0..10u64 {
            let pool = &pool;
            s.spawn(move || {
                let batch = pool.batch();
                for round in 0..3u64 {
                    let base = t * 1_000_000 + round * 1000;
                    let tickets: Vec<_> = (0..300).map(|i| batch.scatter(base + i)).collect();
                    assert_eq!(tickets[299].seq(), 299);
                    assert_eq!(batch.len(), 300);
                    let got = batch.gather();
                    assert_eq!(got, (0..300).map(|i| (base + i) * 3).collect::<Vec<_>>());
                    assert!(tickets.iter().all(|t| t.is_done()));
                }
            });
        }
    });
    assert_eq!(
        pool.gather(),
        vec![3],
        "the pool's gather saw a batch's job"
    );
}

#[test]
fn dropping_a_batch_cancels_its_unstarted_jobs() {
    let (pool, go, ran) = held_pool();
    let batch = pool.batch();
    for i in 1..=1000 {
        batch.scatter(i);
    }
    pool.scatter(5);
    drop(batch);
    assert_eq!(pool.len(), 1, "the batch's jobs are gone at once");
    go.send(()).unwrap();
    assert_eq!(pool.gather(), vec![0, 50]);
    assert_eq!(ran.load(Ordering::SeqCst), 2);
}

#[test]
fn map_is_ordered_lazy_and_bounded_by_its_window() {
    let pool = lox::thread(4, |x: u64| {
        std::thread::sleep(Duration::from_micros(x % 5 * 100));
        x * x
    });
    let pulled = Arc::new(AtomicUsize::new(0));
    let p2 = pulled.clone();
    let inputs = (0..2000u64).inspect(move |_| {
        p2.fetch_add(1, Ordering::SeqCst);
    });
    let mut yielded = 0usize;
    for (i, r) in pool.map(inputs).window(16).enumerate() {
        assert_eq!(r, (i as u64) * (i as u64));
        yielded += 1;
        let in_flight = pulled.load(Ordering::SeqCst) - yielded;
        assert!(
            in_flight <= 16,
            "{in_flight} inputs pulled beyond the window"
        );
    }
    assert_eq!(yielded, 2000);
}

#[test]
fn map_streams_results_while_inputs_are_still_coming() {
    // Each input is sent only after the previous result came out: a map
    // that read its whole input first would never finish.
    let pool = lox::thread(2, |x: u32| x + 1);
    let (tx, rx): (Sender<u32>, Receiver<u32>) = unbounded();
    tx.send(0).unwrap();
    let tx = Mutex::new(Some(tx));
    let mut got = Vec::new();
    for r in pool.map(rx) {
        got.push(r);
        let mut guard = tx.lock().unwrap();
        if r < 50 {
            guard.as_ref().unwrap().send(r).unwrap();
        } else {
            guard.take(); // close the input
        }
    }
    assert_eq!(got, (1..=50).collect::<Vec<_>>());
}

#[test]
fn map_over_an_endless_input_with_take() {
    let pool = lox::thread(2, |x: u64| x * 2);
    let out: Vec<u64> = pool.map(0..).take(1000).collect();
    assert_eq!(out, (0..1000).map(|x| x * 2).collect::<Vec<_>>());
}

#[test]
fn try_map_keeps_order_and_map_panics_naming_the_input() {
    let pool = lox::thread(3, |x: i32| if x % 4 == 3 { panic!("bad {x}") } else { x });
    let out: Vec<_> = pool.try_map(0..8).collect();
    for (i, o) in out.iter().enumerate() {
        if i % 4 == 3 {
            assert_eq!(*o, Err(TaskError::Panicked(format!("bad {i}"))));
        } else {
            assert_eq!(*o, Ok(i as i32));
        }
    }
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.map(0..8).collect::<Vec<_>>()
    }));
    let msg = common::panic_text(caught.unwrap_err());
    assert!(
        msg.contains("map job 3 failed") && msg.contains("bad 3"),
        "{msg}"
    );
}

#[test]
fn map_unordered_yields_in_completion_order() {
    let (release_tx, release_rx) = unbounded::<()>();
    let pool = lox::thread(2, move |x: u32| {
        if x == 0 {
            release_rx.recv_timeout(DEADLINE).unwrap();
        }
        x
    });
    let mut it = pool.map_unordered(0..5);
    let mut first = Vec::new();
    for _ in 0..4 {
        first.push(it.next().unwrap().unwrap());
    }
    first.sort();
    assert_eq!(
        first,
        vec![1, 2, 3, 4],
        "job 0 is still held, the rest came first"
    );
    release_tx.send(()).unwrap();
    assert_eq!(it.next(), Some(Ok(0)));
    assert_eq!(it.next(), None);
}

#[test]
fn dropping_a_map_cancels_its_unstarted_jobs() {
    // One worker; input 2 holds it until `go`. The first result (input 1)
    // comes out, then the map is dropped with input 2 running and 3..=100
    // fed but not started: those must never run.
    let (started_tx, started_rx) = unbounded::<()>();
    let (go_tx, go_rx) = unbounded::<()>();
    let ran = Arc::new(AtomicUsize::new(0));
    let r2 = ran.clone();
    let pool = lox::thread(1, move |x: u32| {
        if x == 2 {
            started_tx.send(()).unwrap();
            go_rx.recv_timeout(DEADLINE).unwrap();
        }
        r2.fetch_add(1, Ordering::SeqCst);
        x * 10
    });
    let mut m = pool.map(1..=500).window(100);
    assert_eq!(m.next(), Some(10));
    started_rx.recv_timeout(DEADLINE).unwrap();
    assert_eq!(pool.len(), 98, "inputs 3..=100 wait for the worker");
    drop(m);
    assert_eq!(pool.len(), 0, "dropping the map took its jobs back");
    go_tx.send(()).unwrap();
    pool.scatter(7);
    assert_eq!(pool.gather(), vec![70]);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        3,
        "inputs 1, 2 and the scatter ran"
    );
}

#[test]
fn map_stream_yields_in_input_order() {
    use futures::StreamExt;
    let pool = lox::thread(3, |x: u64| {
        std::thread::sleep(Duration::from_micros((10 - x % 10) * 50));
        x + 1
    });
    let out: Vec<_> = actix_rt::System::new().block_on(
        pool.map_stream(futures::stream::iter(0..200u64))
            .window(8)
            .collect(),
    );
    assert_eq!(out, (1..=200).map(Ok).collect::<Vec<_>>());
}

#[test]
fn max_pending_bounds_the_mailbox() {
    let (pool, go, _) = held_pool();
    let pool = pool.max_pending(2);
    let scattered = Arc::new(AtomicUsize::new(0));
    let max_len = Arc::new(AtomicUsize::new(0));
    let producer = {
        let (pool, scattered, max_len) = (pool.clone(), scattered.clone(), max_len.clone());
        std::thread::spawn(move || {
            for i in 1..=6 {
                pool.scatter(i);
                scattered.fetch_add(1, Ordering::SeqCst);
                max_len.fetch_max(pool.len(), Ordering::SeqCst);
            }
        })
    };
    assert!(common::eventually(DEADLINE, || scattered
        .load(Ordering::SeqCst)
        >= 2));
    // Full: 2 wait while job 0 holds the worker. (A correct pool never
    // passes this; a mailbox that does not bound fails it.)
    assert!(
        !common::eventually(Duration::from_millis(300), || scattered
            .load(Ordering::SeqCst)
            > 2),
        "a third scatter got past a full mailbox"
    );
    go.send(()).unwrap();
    producer.join().unwrap();
    assert_eq!(pool.gather(), vec![0, 10, 20, 30, 40, 50, 60]);
    assert!(
        max_len.load(Ordering::SeqCst) <= 2,
        "len reached {}",
        max_len.load(Ordering::SeqCst)
    );
}

#[test]
fn scatter_async_waits_for_room_without_blocking_the_executor() {
    let (pool, go, _) = held_pool();
    let pool = pool.max_pending(1);
    let out = actix_rt::System::new().block_on(async move {
        pool.scatter_async(1).await; // room: 0 waiting
        let second = actix_rt::spawn({
            let pool = pool.clone();
            async move {
                pool.scatter_async(2).await;
            }
        });
        // The executor still runs other tasks while `second` waits.
        let other = actix_rt::spawn(async { 5 }).await.unwrap();
        assert_eq!(other, 5);
        go.send(()).unwrap();
        second.await.unwrap();
        pool.gather_async().await
    });
    assert_eq!(out, vec![0, 10, 20]);
}

#[test]
fn results_streams_every_job_scattered_until_the_last_handle_drops() {
    let pool = lox::thread(3, |x: u32| x * 2);
    pool.scatter(1000); // before results(): belongs to a gather
    let results = pool.results();
    let producer = {
        let pool = pool.clone();
        std::thread::spawn(move || {
            for i in 0..300 {
                pool.scatter(i);
            }
        })
    };
    producer.join().unwrap();
    assert_eq!(
        pool.gather(),
        vec![2000],
        "a gather took a job of results()"
    );
    let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| pool.results()));
    assert!(common::panic_text(again.unwrap_err()).contains("already open"));
    drop(pool);
    let mut got: Vec<(usize, u32)> = results.map(|(seq, r)| (seq, r.unwrap())).collect();
    got.sort();
    assert_eq!(
        got,
        (0..300)
            .map(|i| (i as usize, i as u32 * 2))
            .collect::<Vec<_>>()
    );
}

#[test]
fn dropping_results_gives_the_lane_back_to_gathers() {
    let pool = lox::thread(2, |x: u32| x + 1);
    pool.scatter(1);
    let results = pool.results();
    pool.scatter(2);
    drop(results);
    pool.scatter(3);
    assert_eq!(
        pool.gather(),
        vec![2, 4],
        "jobs before and after results(), not those in it"
    );
}

#[test]
fn a_map_yields_before_a_slow_input_has_ended() {
    // The producer holds back the rest of its input until the first result
    // is out: a map that filled its window before yielding would hang.
    let pool = lox::thread(2, |x: u32| x * 2);
    let (tx, rx) = unbounded::<u32>();
    let (seen_tx, seen_rx) = unbounded::<()>();
    let producer = std::thread::spawn(move || {
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        seen_rx
            .recv_timeout(DEADLINE)
            .expect("no result before the input ended");
        for i in 10..20 {
            tx.send(i).unwrap();
        }
    });
    let mut got = Vec::new();
    for r in pool.map(rx) {
        if got.is_empty() {
            seen_tx.send(()).unwrap();
        }
        got.push(r);
    }
    producer.join().unwrap();
    assert_eq!(got, (0..20).map(|x| x * 2).collect::<Vec<_>>());
}

#[test]
fn a_panicking_input_iterator_is_reported_after_the_results_before_it() {
    let pool = lox::thread(2, |x: u32| x);
    let inputs = (0..5u32).map(|x| if x == 3 { panic!("input three") } else { x });
    let mut m = pool.map(inputs);
    assert_eq!((m.next(), m.next(), m.next()), (Some(0), Some(1), Some(2)));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| m.next()));
    let msg = common::panic_text(caught.unwrap_err());
    assert!(
        msg.contains("input iterator panicked") && msg.contains("input three"),
        "{msg}"
    );
}

#[test]
fn maps_chain_across_pools_and_move_between_threads() {
    fn send<T: Send>(t: T) -> T {
        t
    }
    let parse = lox::thread(2, |s: String| s.len() as u64);
    let square = lox::thread(2, |x: u64| x * x);
    let words: Vec<String> = (0..500).map(|i| "x".repeat(i % 7)).collect();
    // The first map is the second's input: it moves to the feeder thread.
    let chained = send(square.map(parse.map(words.clone())));
    let out: Vec<u64> = std::thread::spawn(move || chained.collect())
        .join()
        .unwrap();
    let want: Vec<u64> = words.iter().map(|w| (w.len() * w.len()) as u64).collect();
    assert_eq!(out, want);
}
