//! `#[lox::thread]`: the decorated function stays callable; a module of the
//! same name scatters and gathers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[lox::thread(4)]
fn zero() -> u32 {
    7
}

#[lox::thread(2)]
fn one(x: u64) -> u64 {
    x + 1
}

#[lox::thread]
fn multiply(x: u64, y: u64) -> u64 {
    x * y
}

#[allow(clippy::too_many_arguments)]
#[lox::thread(3)]
fn eight(a: u8, b: u16, c: u32, d: u64, e: i8, f: String, g: Vec<u8>, h: (u8, u8)) -> String {
    format!("{a}-{b}-{c}-{d}-{e}-{f}-{}-{}", g.len(), h.0 + h.1)
}

#[lox::thread(2)]
fn count(counter: Arc<AtomicUsize>) {
    counter.fetch_add(1, Ordering::SeqCst);
}

#[lox::thread(2)]
fn patterns((a, b): (u32, u32), mut c: u32) -> u32 {
    c += a * b;
    c
}

const WORKERS: usize = 3;

#[lox::thread(WORKERS)]
fn with_const(x: i64) -> i64 {
    -x
}

#[lox::thread(2)]
fn may_fail(x: u32) -> u32 {
    assert!(x != 3, "x was three");
    x
}

mod inner {
    #[lox::thread(2)]
    pub fn public(x: u32) -> u32 {
        x * 100
    }
}

#[test]
fn the_first_example_of_the_python_docs() {
    assert_eq!(multiply(3, 4), 12);
    for i in 0..5 {
        multiply::scatter(i, i + 1);
    }
    assert_eq!(multiply::gather(), vec![0, 2, 6, 12, 20]);
    assert_eq!(multiply::pool().n_workers(), lox::DEFAULT_THREADS);
}

#[test]
#[allow(clippy::type_complexity)]
fn zero_one_and_eight_arguments() {
    assert_eq!(zero(), 7);
    zero::scatter();
    zero::scatter();
    assert_eq!(zero::gather(), vec![7, 7]);

    assert_eq!(one(1), 2);
    let t = one::scatter(41);
    assert_eq!(t.seq(), 0);
    assert_eq!(one::gather(), vec![42]);

    let direct = eight(1, 2, 3, 4, -5, "six".into(), vec![0; 7], (4, 4));
    assert_eq!(direct, "1-2-3-4--5-six-7-8");
    eight::scatter(1, 2, 3, 4, -5, "six".into(), vec![0; 7], (4, 4));
    assert_eq!(eight::gather(), vec![direct]);
    let _: &'static lox::Thread<(u8, u16, u32, u64, i8, String, Vec<u8>, (u8, u8)), String> =
        eight::pool();
}

#[test]
fn unit_result_and_side_effects() {
    let counter = Arc::new(AtomicUsize::new(0));
    for _ in 0..10 {
        count::scatter(counter.clone());
    }
    assert_eq!(count::gather(), vec![(); 10]);
    assert_eq!(counter.load(Ordering::SeqCst), 10);
}

#[test]
fn patterns_consts_and_modules() {
    assert_eq!(patterns((2, 3), 1), 7);
    patterns::scatter((2, 3), 1);
    assert_eq!(patterns::gather(), vec![7]);

    with_const::scatter(5);
    assert_eq!(with_const::gather(), vec![-5]);
    assert_eq!(with_const::pool().n_workers(), WORKERS);

    inner::public::scatter(2);
    assert_eq!(inner::public::gather(), vec![200]);
}

#[test]
fn try_gather_len_and_progress() {
    for i in 0..5 {
        may_fail::scatter(i);
    }
    let out = may_fail::try_gather();
    assert_eq!(out[2], Ok(2));
    assert_eq!(out[3], Err(lox::TaskError::Panicked("x was three".into())));
    assert_eq!(may_fail::len(), 0, "every job was gathered");
    assert!(may_fail::is_empty());
    may_fail::scatter(1);
    assert_eq!(may_fail::gather_with(false), vec![1]);
}

#[test]
fn gather_async_from_the_module() {
    one::scatter(1);
    let out = actix_rt::System::new().block_on(one::gather_async());
    assert_eq!(out, vec![2]);
}

#[lox::thread(2)]
fn every(x: u32) -> u32 {
    x * 2
}

/// Every function of the generated module, one call each (the module offers
/// every method of the pool).
#[test]
fn the_module_offers_every_method_of_the_pool() {
    use futures::StreamExt;
    assert_eq!(every::n_workers(), 2);
    every::scatter(1);
    assert_eq!(every::pending(), 1);
    assert_eq!(every::try_gather_with(false), vec![Ok(2)]);
    assert_eq!(every::pending(), 0);
    every::scatter(2);
    let got: Vec<_> = every::gather_iter().map(|(s, r)| (s, r.unwrap())).collect();
    assert_eq!(got, vec![(0, 4)]);
    every::scatter(3);
    let streamed = futures::executor::block_on(every::gather_stream().collect::<Vec<_>>());
    assert_eq!(streamed, vec![(0, Ok(6))]);
    every::scatter(4);
    let out = futures::executor::block_on(every::try_gather_async());
    assert_eq!(out, vec![Ok(8)]);
    let addr = every::supervisor();
    let n = actix_rt::System::new().block_on(async move {
        addr.send(lox::actors::Scatter(5)).await.unwrap();
        addr.send(lox::actors::Gather::new()).await.unwrap()
    });
    assert_eq!(n, vec![Ok(10)]);
    assert!(every::is_empty());
    assert_eq!(every::len(), 0);
}

#[test]
fn compile_errors_say_why() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}

#[lox::thread(2)]
fn static_str(i: usize) -> &'static str {
    ["zero", "one"][i]
}

#[test]
fn static_references_are_fine_on_threads() {
    static_str::scatter(1);
    assert_eq!(static_str::gather(), vec!["one"]);
}

#[lox::thread(2)]
fn counted(x: u32) -> u32 {
    assert!(x != 0, "zero");
    x
}

#[test]
fn stats_from_the_module() {
    for i in 0..4 {
        counted::scatter(i);
    }
    let _ = counted::try_gather();
    let stats = counted::stats();
    assert_eq!((stats.done, stats.failed), (3, 1));
    assert_eq!(stats.queued, 0);
    assert_eq!(stats.per_worker.len(), 2);
}

#[lox::thread(1 + 1,)]
fn trailing_comma(x: u32) -> u32 {
    x
}

#[lox::process(2, retries = 1, job_timeout = Duration::from_millis(500))]
fn dies_once(marker: String, nap_ms: u64) -> u64 {
    // The first attempt (no marker yet) leaves the marker and kills its worker.
    if std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
        .is_ok()
    {
        std::process::abort();
    }
    std::thread::sleep(Duration::from_millis(nap_ms));
    nap_ms
}

#[test]
fn attribute_arguments() {
    assert_eq!(trailing_comma::n_workers(), 2);

    lox::init();
    let dir = std::env::temp_dir().join(format!("lox-macros-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let marker = |name: &str| dir.join(name).to_string_lossy().into_owned();
    // retries = 1: the job whose worker died runs again on a fresh worker.
    dies_once::scatter(marker("a"), 1);
    // job_timeout: a job past 500 ms is killed.
    std::fs::write(marker("b"), "").unwrap();
    dies_once::scatter(marker("b"), 20_000);
    let out = dies_once::try_gather();
    assert_eq!(out[0], Ok(1));
    assert_eq!(
        out[1],
        Err(lox::TaskError::TimedOut(Duration::from_millis(500)))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
