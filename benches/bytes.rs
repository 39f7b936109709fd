//! A 50 MB byte buffer through a worker process and back, against the same
//! bytes through a plain pipe copy (`cat`): what the protocol costs on top of
//! moving the bytes. A `Vec<u8>` argument or result travels as one
//! MessagePack `bin` (see the book's Performance chapter).
//!
//! `cargo bench --bench bytes`. The bench binary is also the worker, so
//! `main` calls `lox::init()` first.

use std::hint::black_box;
use std::io::{Read, Write};
use std::process::{Command, Stdio};

use criterion::{criterion_group, Criterion, Throughput};

const SIZE: usize = 50 << 20;

fn echo(bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

/// The bytes to `cat` and back: one copy each way through a pipe.
fn pipe_copy(data: &[u8]) -> Vec<u8> {
    let mut cat = Command::new("cat")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run cat");
    let mut stdin = cat.stdin.take().unwrap();
    let mut stdout = cat.stdout.take().unwrap();
    let back = std::thread::scope(|s| {
        let reader = s.spawn(move || {
            let mut back = Vec::with_capacity(data.len());
            stdout.read_to_end(&mut back).unwrap();
            back
        });
        stdin.write_all(data).unwrap();
        drop(stdin);
        reader.join().unwrap()
    });
    cat.wait().unwrap();
    back
}

fn round_trip(c: &mut Criterion) {
    let data: Vec<u8> = (0..SIZE).map(|i| (i * 31) as u8).collect();
    let pool = lox::process(1, echo);
    pool.scatter(vec![0; 16]); // start the worker outside the measurement
    assert_eq!(pool.gather(), vec![vec![0; 16]]);

    let mut g = c.benchmark_group("bytes_50mb_round_trip");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(2 * SIZE as u64));
    g.bench_function("lox_process_vec_u8", |b| {
        b.iter(|| {
            pool.scatter(data.clone());
            let back = pool.gather();
            assert_eq!(back[0].len(), SIZE);
            black_box(back)
        })
    });
    g.bench_function("pipe_copy_cat", |b| {
        b.iter(|| {
            let copy = data.clone(); // the same allocation as the lox case
            let back = pipe_copy(&copy);
            assert_eq!(back.len(), SIZE);
            black_box(back)
        })
    });
    g.finish();
}

criterion_group!(benches, round_trip);

fn main() {
    lox::init();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
