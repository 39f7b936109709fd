//! Thread pools: order, failures, concurrency of scatter, lifetimes.

mod common;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use common::{eventually, panic_text, xorshift};
use lox::TaskError;

const DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn results_come_back_in_scatter_order_whatever_the_finish_order() {
    let pool = lox::thread(8, |(i, micros): (u64, u64)| {
        std::thread::sleep(Duration::from_micros(micros));
        i * 3
    });
    let durations: Vec<u64> = xorshift(42).take(300).map(|x| x % 3000).collect();
    for (i, d) in durations.iter().enumerate() {
        let t = pool.scatter((i as u64, *d));
        assert_eq!(t.seq(), i);
    }
    let expected: Vec<u64> = (0..300).map(|i| i * 3).collect();
    assert_eq!(pool.gather(), expected);
}

#[test]
fn the_first_example_of_the_python_docs() {
    fn multiply(x: u64, y: u64) -> u64 {
        x * y
    }
    let pool = lox::thread(lox::DEFAULT_THREADS, |(x, y)| multiply(x, y));
    assert_eq!(pool.n_workers(), 50);
    for i in 0..5 {
        pool.scatter((i, i + 1));
    }
    assert_eq!(pool.gather(), vec![0, 2, 6, 12, 20]);
}

#[test]
fn empty_gather_and_gather_twice() {
    let pool = lox::thread(2, |x: u32| x + 1);
    assert_eq!(pool.gather(), Vec::<u32>::new());
    assert!(pool.try_gather().is_empty());
    pool.scatter(1);
    pool.scatter(2);
    assert_eq!(pool.gather(), vec![2, 3]);
    assert_eq!(
        pool.gather(),
        Vec::<u32>::new(),
        "a second gather takes only new jobs"
    );
    let t = pool.scatter(10);
    assert_eq!(t.seq(), 0, "sequence numbers restart after a gather");
    assert_eq!(pool.gather(), vec![11]);
}

#[test]
fn gather_panics_naming_the_job_after_all_others_finished() {
    let finished = Arc::new(AtomicUsize::new(0));
    let f2 = finished.clone();
    let pool = lox::thread(3, move |x: u32| {
        if x == 7 {
            panic!("seven is unlucky");
        }
        std::thread::sleep(Duration::from_millis(2));
        f2.fetch_add(1, Ordering::SeqCst);
        x
    });
    for i in 0..20 {
        pool.scatter(i);
    }
    let err = catch_unwind(AssertUnwindSafe(|| pool.gather())).expect_err("gather must panic");
    let msg = panic_text(err);
    assert!(msg.contains("job 7 of 20"), "message names the job: {msg}");
    assert!(
        msg.contains("seven is unlucky"),
        "message carries the panic: {msg}"
    );
    assert_eq!(
        finished.load(Ordering::SeqCst),
        19,
        "every other job had finished"
    );
    // The pool keeps serving after a panic.
    pool.scatter(1);
    assert_eq!(pool.gather(), vec![1]);
}

#[test]
fn gather_names_how_many_jobs_failed() {
    let pool = lox::thread(2, |x: u32| if x % 2 == 1 { panic!("odd {x}") } else { x });
    for i in 0..6 {
        pool.scatter(i);
    }
    let msg = panic_text(catch_unwind(AssertUnwindSafe(|| pool.gather())).unwrap_err());
    assert!(
        msg.contains("job 1 of 6") && msg.contains("odd 1") && msg.contains("2 more"),
        "{msg}"
    );
}

#[test]
fn try_gather_reports_each_outcome_in_order() {
    let pool = lox::thread(4, |x: i32| {
        if x % 3 == 0 {
            panic!("multiple of three: {x}");
        }
        x * 2
    });
    for i in 1..=9 {
        pool.scatter(i);
    }
    let out = pool.try_gather();
    assert_eq!(out.len(), 9);
    for (i, r) in out.into_iter().enumerate() {
        let x = i as i32 + 1;
        if x % 3 == 0 {
            assert_eq!(
                r,
                Err(TaskError::Panicked(format!("multiple of three: {x}")))
            );
        } else {
            assert_eq!(r, Ok(x * 2));
        }
    }
}

#[test]
fn scatter_from_many_threads_at_once_loses_nothing() {
    const THREADS: usize = 8;
    const PER: usize = 2000;
    let pool = lox::thread(4, |(t, i): (usize, usize)| t * 1_000_000 + i);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                (0..PER)
                    .map(|i| (pool.scatter((t, i)).seq(), t * 1_000_000 + i))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let tickets: Vec<(usize, usize)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let results = pool.gather();
    assert_eq!(results.len(), THREADS * PER);
    let seqs: HashSet<usize> = tickets.iter().map(|t| t.0).collect();
    assert_eq!(
        seqs.len(),
        THREADS * PER,
        "every ticket has its own sequence number"
    );
    for (seq, expected) in tickets {
        assert_eq!(
            results[seq], expected,
            "ticket {seq} indexes its own result"
        );
    }
    // Per thread, results keep that thread's scatter order.
    for t in 0..THREADS {
        let mine: Vec<usize> = results
            .iter()
            .copied()
            .filter(|r| r / 1_000_000 == t)
            .collect();
        assert_eq!(
            mine,
            (0..PER).map(|i| t * 1_000_000 + i).collect::<Vec<_>>()
        );
    }
}

#[test]
fn gather_takes_exactly_the_jobs_scattered_before_it() {
    // One worker held on a gate: jobs queue up; a gather on another thread cuts
    // them; jobs scattered after the cut belong to the next gather.
    let (gate_tx, gate_rx) = crossbeam_channel::unbounded::<()>();
    let gate_rx = Arc::new(parking_lot::Mutex::new(gate_rx));
    let pool = lox::thread(1, move |x: u32| {
        gate_rx.lock().recv().unwrap();
        x
    });
    for i in 0..3 {
        pool.scatter(i);
    }
    let p2 = pool.clone();
    let first = std::thread::spawn(move || p2.gather());
    // Wait until the gather has cut (the epoch advanced): a new scatter gets seq 0.
    assert!(eventually(DEADLINE, || {
        let t = pool.scatter(100);
        let fresh = t.seq() == 0;
        if !fresh {
            // Still in the first epoch: release it as part of that gather.
            gate_tx.send(()).unwrap();
        }
        fresh
    }));
    let extra_in_first = {
        for _ in 0..64 {
            gate_tx.send(()).unwrap();
        }
        first.join().unwrap()
    };
    assert_eq!(&extra_in_first[..3], &[0, 1, 2]);
    assert!(extra_in_first[3..].iter().all(|&x| x == 100));
    assert_eq!(
        pool.gather(),
        vec![100],
        "the job scattered after the cut is the next gather's"
    );
}

#[test]
fn clones_share_one_pool_and_one_pending_list() {
    let a = lox::thread(2, |x: u8| x);
    let b = a.clone();
    a.scatter(1);
    b.scatter(2);
    a.scatter(3);
    assert_eq!(b.gather(), vec![1, 2, 3]);
    assert!(a.gather().is_empty());
}

#[test]
fn tickets_report_done() {
    let (go_tx, go_rx) = crossbeam_channel::bounded::<()>(0);
    let pool = lox::thread(1, move |x: u32| {
        if x == 1 {
            go_rx.recv().unwrap();
        }
        x
    });
    let quick = pool.scatter(0);
    let slow = pool.scatter(1);
    assert!(eventually(DEADLINE, || quick.is_done()));
    assert!(!slow.is_done(), "job 1 waits on the gate");
    go_tx.send(()).unwrap();
    assert!(eventually(DEADLINE, || slow.is_done()));
    assert_eq!(pool.gather(), vec![0, 1]);
    assert!(
        quick.is_done() && slow.is_done(),
        "still done after the gather"
    );
    let failing = lox::thread(1, |_: ()| panic!("no"));
    let t = failing.scatter(());
    assert!(
        eventually(DEADLINE, || t.is_done()),
        "an error is an outcome too"
    );
    assert!(failing.try_gather()[0].is_err());
}

#[test]
fn len_counts_jobs_not_yet_started() {
    let (started_tx, started_rx) = crossbeam_channel::unbounded::<()>();
    let (go_tx, go_rx) = crossbeam_channel::unbounded::<()>();
    let pool = lox::thread(1, move |x: u32| {
        started_tx.send(()).unwrap();
        go_rx.recv().unwrap();
        x
    });
    assert!(pool.is_empty());
    pool.scatter(0);
    started_rx.recv_timeout(DEADLINE).unwrap();
    for i in 1..=5 {
        pool.scatter(i);
    }
    assert_eq!(pool.len(), 5, "one running, five waiting");
    assert_eq!(pool.pending(), 6, "pending counts the running job too");
    for _ in 0..6 {
        go_tx.send(()).unwrap();
    }
    let tickets: Vec<_> = (6..9).map(|i| pool.scatter(i)).collect();
    for _ in 0..3 {
        go_tx.send(()).unwrap();
    }
    assert!(eventually(DEADLINE, || tickets.iter().all(|t| t.is_done())));
    assert_eq!(pool.len(), 0, "every job has finished");
    assert_eq!(pool.pending(), 9, "and none was gathered");
    assert_eq!(pool.gather(), (0..9).collect::<Vec<_>>());
    assert!(pool.is_empty());
    assert_eq!(pool.pending(), 0);
}

#[test]
fn n_zero_runs_inline_and_reports_panics_like_workers() {
    let caller = std::thread::current().id();
    let pool = lox::thread(0, move |x: u32| {
        assert_eq!(
            std::thread::current().id(),
            caller,
            "runs in the caller's thread"
        );
        if x == 2 {
            panic!("inline boom");
        }
        x
    });
    assert_eq!(pool.n_workers(), 0);
    for i in 0..4 {
        let t = pool.scatter(i);
        assert!(t.is_done(), "an inline job is done when scatter returns");
    }
    let out = pool.try_gather();
    assert_eq!(out[0], Ok(0));
    assert_eq!(out[2], Err(TaskError::Panicked("inline boom".into())));
    pool.scatter(2);
    let msg = panic_text(catch_unwind(AssertUnwindSafe(|| pool.gather())).unwrap_err());
    assert!(
        msg.contains("job 0 of 1") && msg.contains("inline boom"),
        "{msg}"
    );
}

#[test]
fn progress_position_equals_job_count() {
    let pool = lox::thread(3, |x: u64| x);
    for i in 0..250 {
        pool.scatter(i);
    }
    let bar = lox::indicatif::ProgressBar::hidden();
    let out = pool.gather_with(bar.clone());
    assert_eq!(out, (0..250).collect::<Vec<_>>());
    assert_eq!(bar.position(), 250);
    assert_eq!(bar.length(), Some(250));

    // A bar with a length keeps it, and advances from where it stood.
    let sized = lox::indicatif::ProgressBar::hidden();
    sized.set_length(1000);
    for round in 1..=2u64 {
        for i in 0..3 {
            pool.scatter(i);
        }
        pool.gather_with(sized.clone());
        assert_eq!((sized.position(), sized.length()), (3 * round, Some(1000)));
    }

    // false means no bar (Python lox crashes there).
    pool.scatter(5);
    assert_eq!(pool.gather_with(false), vec![5]);
}

#[test]
fn gather_async_under_actix_rt() {
    let pool = lox::thread(2, |x: u32| {
        std::thread::sleep(Duration::from_millis(5));
        x * 2
    });
    for i in 0..10 {
        pool.scatter(i);
    }
    let out = actix_rt::System::new().block_on(async {
        // The event loop stays free while the gather waits.
        let ticker = actix_rt::spawn(async {
            let mut ticks = 0;
            for _ in 0..3 {
                actix_rt::time::sleep(Duration::from_millis(1)).await;
                ticks += 1;
            }
            ticks
        });
        let out = pool.gather_async().await;
        assert_eq!(ticker.await.unwrap(), 3);
        out
    });
    assert_eq!(out, (0..10).map(|x| x * 2).collect::<Vec<_>>());
}

#[test]
fn gather_async_under_tokio_current_thread() {
    let pool = lox::thread(2, |x: u32| x + 1);
    for i in 0..100 {
        pool.scatter(i);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = rt.block_on(pool.gather_async());
    assert_eq!(out, (1..=100).collect::<Vec<_>>());
    pool.scatter(7);
    let out = rt.block_on(pool.try_gather_async());
    assert_eq!(out, vec![Ok(8)]);
}

#[test]
fn gather_async_panics_like_gather() {
    let pool = lox::thread(1, |_: ()| -> u8 { panic!("async boom") });
    pool.scatter(());
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let msg = panic_text(
        catch_unwind(AssertUnwindSafe(|| rt.block_on(pool.gather_async()))).unwrap_err(),
    );
    assert!(
        msg.contains("job 0 of 1") && msg.contains("async boom"),
        "{msg}"
    );
}

#[test]
fn gather_iter_yields_every_job_once_as_it_completes() {
    let (go_tx, go_rx) = crossbeam_channel::unbounded::<()>();
    let pool = lox::thread(2, move |x: u32| {
        if x == 0 {
            go_rx.recv().unwrap(); // job 0 finishes last
        }
        if x == 3 {
            panic!("three");
        }
        x * 10
    });
    for i in 0..6 {
        pool.scatter(i);
    }
    let mut it = pool.gather_iter();
    assert_eq!(it.len(), 6);
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(it.next().unwrap());
    }
    assert!(
        seen.iter().all(|(seq, _)| *seq != 0),
        "job 0 is still blocked"
    );
    go_tx.send(()).unwrap();
    seen.push(it.next().unwrap());
    assert!(it.next().is_none());
    seen.sort_by_key(|s| s.0);
    for (seq, r) in seen {
        if seq == 3 {
            assert_eq!(r, Err(TaskError::Panicked("three".into())));
        } else {
            assert_eq!(r, Ok(seq as u32 * 10));
        }
    }
    // The next gather starts afresh.
    pool.scatter(9);
    assert_eq!(pool.gather(), vec![90]);
}

#[test]
fn dropping_a_streaming_gather_early_does_not_disturb_the_next_gather() {
    let pool = lox::thread(2, |x: u32| x);
    for i in 0..50 {
        pool.scatter(i);
    }
    {
        let mut it = pool.gather_iter();
        let _ = it.next().unwrap();
    }
    pool.scatter(1000);
    assert_eq!(pool.gather(), vec![1000]);
}

#[test]
fn gather_stream_under_tokio() {
    use futures::StreamExt;
    let pool = lox::thread(3, |x: u64| x * x);
    for i in 0..20 {
        pool.scatter(i);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let mut got: Vec<(usize, u64)> = rt.block_on(
        pool.gather_stream()
            .map(|(seq, r)| (seq, r.unwrap()))
            .collect::<Vec<_>>(),
    );
    got.sort();
    assert_eq!(
        got,
        (0..20).map(|i| (i as usize, i * i)).collect::<Vec<_>>()
    );
    let empty: Vec<_> = rt.block_on(pool.gather_stream().collect::<Vec<_>>());
    assert!(empty.is_empty());
}

#[test]
fn an_actor_uses_a_pool_through_its_supervisor() {
    use actix::prelude::*;
    use lox::actors::{Gather, Pending, Scatter, Supervisor};

    struct Client {
        pool: Addr<Supervisor<u32, u32>>,
    }
    impl Actor for Client {
        type Context = Context<Self>;
    }
    #[derive(Message)]
    #[rtype(result = "Vec<u32>")]
    struct Run(u32);
    impl Handler<Run> for Client {
        type Result = ResponseFuture<Vec<u32>>;
        fn handle(&mut self, msg: Run, _: &mut Context<Self>) -> Self::Result {
            let pool = self.pool.clone();
            Box::pin(async move {
                for i in 0..msg.0 {
                    pool.send(Scatter(i)).await.unwrap();
                }
                let _pending: usize = pool.send(Pending).await.unwrap();
                pool.send(Gather::new())
                    .await
                    .unwrap()
                    .into_iter()
                    .map(Result::unwrap)
                    .collect()
            })
        }
    }

    let pool = lox::thread(2, |x: u32| x + 100);
    let addr = pool.supervisor();
    let out = actix_rt::System::new().block_on(async move {
        let client = Client { pool: addr }.start();
        client.send(Run(5)).await.unwrap()
    });
    assert_eq!(out, vec![100, 101, 102, 103, 104]);
    // Jobs scattered by message and by handle share one sequence.
    pool.scatter(1);
    assert_eq!(pool.gather(), vec![101]);
}

#[test]
fn a_big_gather_keeps_every_result() {
    let pool = lox::thread(4, |x: u64| x ^ 0x5555);
    for i in 0..200_000u64 {
        pool.scatter(i);
    }
    let out = pool.gather();
    assert_eq!(out.len(), 200_000);
    assert!(out
        .iter()
        .enumerate()
        .all(|(i, &r)| r == (i as u64) ^ 0x5555));
}

#[test]
fn call_runs_in_the_callers_thread_and_scatters_nothing() {
    let me = std::thread::current().id();
    let pool = lox::thread(2, move |_: ()| std::thread::current().id() == me);
    assert!(pool.call(()));
    assert!(pool.gather().is_empty());
}

#[test]
fn scattered_jobs_start_without_waiting_for_a_gather() {
    // Jobs travel in chunks; a job left in the partial chunk while every worker
    // parks would never finish until a gather. Tickets must come done with no
    // gather, whatever the burst size, job cost, and warm or cold workers.
    let pool = lox::thread(3, |(x, spin): (u64, u64)| {
        let mut acc = x;
        for i in 0..spin {
            acc = std::hint::black_box(acc.wrapping_mul(31).wrapping_add(i));
        }
        acc
    });
    let mut rng = xorshift(7);
    let mut since_gather = 0;
    for round in 0..400 {
        let burst = rng.next().unwrap() % 300 + 1;
        let cost = match round % 3 {
            0 => 0,
            1 => 200,
            _ => 20_000,
        };
        let tickets: Vec<_> = (0..burst)
            .map(|i| pool.scatter((i, rng.next().unwrap() % (cost + 1))))
            .collect();
        assert!(
            eventually(DEADLINE, || tickets.iter().all(|t| t.is_done())),
            "round {round}: a job of a burst of {burst} never ran"
        );
        since_gather += burst as usize;
        if round % 9 == 0 {
            std::thread::sleep(Duration::from_millis(1)); // let the workers go cold
        }
        if round % 50 == 49 {
            let out = pool.try_gather();
            assert_eq!(out.len(), since_gather);
            assert!(out.iter().all(Result::is_ok));
            since_gather = 0;
        }
    }
}

#[test]
fn gather_async_takes_the_jobs_scattered_before_its_first_poll() {
    let (go_tx, go_rx) = crossbeam_channel::unbounded::<()>();
    let pool = lox::thread(2, move |x: u32| {
        go_rx.recv().unwrap();
        x
    });
    pool.scatter(1);
    pool.scatter(2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let out = rt.block_on(async {
        let mut gather = Box::pin(pool.gather_async());
        // First poll: the gather takes jobs 1 and 2 (both still blocked).
        assert!(futures::poll!(&mut gather).is_pending());
        pool.scatter(3); // after the cut: the next gather's
        for _ in 0..3 {
            go_tx.send(()).unwrap();
        }
        gather.await
    });
    assert_eq!(out, vec![1, 2]);
    assert_eq!(pool.gather(), vec![3]);
}

#[test]
fn a_job_waiting_for_the_next_jobs_start_does_not_hang() {
    // Found in review: with several workers parked, one chunk in flight must
    // not stand in for all of them, or job B waits in the buffer until job A
    // (which waits for B) returns.
    let (started_tx, started_rx) = crossbeam_channel::unbounded::<u32>();
    let signals = started_rx.clone();
    let pool = lox::thread(2, move |(x, wait_for): (u32, Option<u32>)| {
        if let Some(other) = wait_for {
            let got = started_rx.recv_timeout(Duration::from_secs(20));
            assert_eq!(
                got,
                Ok(other),
                "job {other} never started while job {x} waited"
            );
        } else {
            started_tx.send(x).unwrap();
        }
        x
    });
    // Warm up on trivial jobs so that chunks are large.
    for i in 0..20_000 {
        pool.scatter((i, None));
    }
    assert_eq!(pool.gather().len(), 20_000);
    while signals.try_recv().is_ok() {}
    for round in 0..20u32 {
        std::thread::sleep(Duration::from_millis(2)); // both workers park
        let a = 100_000 + 2 * round;
        pool.scatter((a, Some(a + 1)));
        pool.scatter((a + 1, None));
        assert_eq!(pool.gather(), vec![a, a + 1]);
    }
}

#[test]
fn a_chain_of_jobs_waiting_on_each_other_runs_on_all_workers() {
    // Job i waits until job i + 1 has started: all of a burst must run at
    // once on a pool as large as the burst, even when the jobs were measured
    // cheap and travel in one chunk.
    const N: u32 = 4;
    // links[i]: job i + 1 tells job i that it has started.
    let links: Arc<Vec<_>> = Arc::new(
        (0..N)
            .map(|_| crossbeam_channel::unbounded::<()>())
            .collect(),
    );
    let l2 = links.clone();
    let pool = lox::thread(N as usize, move |(i, chained): (u32, bool)| {
        if chained {
            if i > 0 {
                l2[i as usize - 1].0.send(()).unwrap();
            }
            if i + 1 < N {
                let got = l2[i as usize].1.recv_timeout(Duration::from_secs(20));
                assert!(
                    got.is_ok(),
                    "job {} never started while job {i} waited",
                    i + 1
                );
            }
        }
        i
    });
    for round in 0..30 {
        for i in 0..5_000 {
            pool.scatter((i, false)); // cheap: chunks grow large
        }
        assert_eq!(pool.gather().len(), 5_000);
        if round % 2 == 0 {
            std::thread::sleep(Duration::from_millis(2)); // workers park
        }
        for i in 0..N {
            pool.scatter((i, true));
        }
        assert_eq!(pool.gather(), (0..N).collect::<Vec<_>>(), "round {round}");
    }
}

#[test]
fn gather_iter_yields_in_completion_order_with_errors_in_their_place() {
    // One worker runs the jobs strictly in scatter order, so completion order
    // is scatter order; job 2 fails.
    let pool = lox::thread(1, |x: u32| if x == 2 { panic!("two") } else { x });
    for i in 0..6 {
        pool.scatter(i);
    }
    let seqs: Vec<(usize, bool)> = pool
        .gather_iter()
        .map(|(seq, r)| (seq, r.is_ok()))
        .collect();
    assert_eq!(
        seqs,
        vec![
            (0, true),
            (1, true),
            (2, false),
            (3, true),
            (4, true),
            (5, true)
        ]
    );
}

#[test]
fn a_dropped_streaming_gather_keeps_tickets_truthful() {
    let (go_tx, go_rx) = crossbeam_channel::unbounded::<()>();
    let pool = lox::thread(1, move |x: u32| {
        if x == 1 {
            go_rx.recv().unwrap();
        }
        x
    });
    let quick = pool.scatter(0);
    let slow = pool.scatter(1);
    {
        let mut it = pool.gather_iter();
        assert_eq!(it.next().map(|(seq, r)| (seq, r.ok())), Some((0, Some(0))));
    } // dropped with job 1 still running
    assert!(quick.is_done());
    assert!(!slow.is_done(), "job 1 has no outcome yet");
    go_tx.send(()).unwrap();
    assert!(eventually(DEADLINE, || slow.is_done()));
    // The abandoned epoch is gone once its last outcome arrived: the pool
    // goes on normally, many times over.
    for round in 10..2_010u32 {
        pool.scatter(round);
        pool.scatter(round + 1);
        let mut it = pool.gather_iter();
        let _ = it.next();
    }
    pool.scatter(7);
    assert_eq!(pool.gather(), vec![7]);
}
