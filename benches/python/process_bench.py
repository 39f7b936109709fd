"""Python lox's process pool on the workload of benches/process.rs.

Optional, not run in CI:

    pip install lox==1.0.0 pathos
    python3 benches/python/process_bench.py

Prints per-job overhead for trivial jobs and the 200 x ~1 ms case on 2
workers, against serial.
"""
import time

import lox


def spin(seed, iters):
    x = seed | 1
    mask = (1 << 64) - 1
    for _ in range(iters):
        x ^= (x << 13) & mask
        x ^= x >> 7
        x ^= (x << 17) & mask
    return x


def iters_per_ms():
    n = 20000
    t = time.perf_counter()
    spin(1, n)
    return max(1, int(n * 1e-3 / (time.perf_counter() - t)))


@lox.process(2)
def trivial(x):
    return x + 1


@lox.process(2)
def spin_pool(seed, iters):
    return spin(seed, iters)


def best_of(repeats, f):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return best


def main():
    iters = iters_per_ms()

    def run_trivial(n=2000):
        for i in range(n):
            trivial.scatter(i)
        trivial.gather()

    run_trivial(10)  # start the workers
    t = best_of(3, run_trivial)
    print(f"python lox process(2) trivial: {t / 2000 * 1e3:.3f} ms/job")

    t = best_of(3, lambda: [spin(s, iters) for s in range(200)])
    print(f"serial 200 x 1ms: {t * 1e3:.1f} ms ({t / 200 * 1e3:.3f} ms/job)")

    def run_spin():
        for s in range(200):
            spin_pool.scatter(s, iters)
        spin_pool.gather()

    spin_pool.scatter(0, 1)
    spin_pool.gather()
    t = best_of(5, run_spin)
    print(f"python lox process(2) 200 x 1ms: {t * 1e3:.1f} ms ({t / 200 * 1e3:.3f} ms/job)")


if __name__ == "__main__":
    main()
