"""Python lox 1.0 thread pool on the workloads of benches/pool.rs.

    pip install lox==1.0.0
    python3 benches/python/thread_bench.py

Optional: not run in CI. Prints one line per workload.
"""
import time

import lox

JOBS = 100_000


@lox.thread(4)
def work(x):
    return (x * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF


@lox.thread(50)
def nap(i):
    time.sleep(0.010)
    return i


def best_of(n, fn):
    best = float("inf")
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def trivial():
    for i in range(JOBS):
        work.scatter(i)
    out = work.gather()
    assert len(out) == JOBS


def sleepy():
    for i in range(200):
        nap.scatter(i)
    assert nap.gather() == list(range(200))


if __name__ == "__main__":
    t = best_of(3, trivial)
    print(f"python lox trivial/100000 on 4 threads: {t * 1e3:.0f} ms ({t / JOBS * 1e9:.0f} ns/job)")
    t = best_of(5, sleepy)
    print(f"python lox sleep/200x10ms/50: {t * 1e3:.1f} ms")
