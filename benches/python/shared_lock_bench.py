"""Cross-process lock round trips in Python, beside lox's
`cargo bench --bench process -- shared_lock`:

- multiprocessing.Lock: a POSIX semaphore in shared memory (one host only);
- multiprocessing.Manager().Lock(): a proxy to a lock in a manager process,
  one request/answer over a socket per call: the same shape as lox's shared
  handles (a broker in one process, requests over a channel).

Each is measured inside a child process: N uncontended acquire+release.
`python3 benches/python/shared_lock_bench.py`
"""

import multiprocessing as mp
import time

N = 20000


def loop(lock, n, out):
    t = time.perf_counter()
    for _ in range(n):
        lock.acquire()
        lock.release()
    out.put((time.perf_counter() - t) / n)


def measure(lock, n):
    out = mp.Queue()
    p = mp.Process(target=loop, args=(lock, n, out))
    p.start()
    per = out.get()
    p.join()
    return per


if __name__ == "__main__":
    print(f"multiprocessing.Lock (shared memory): {measure(mp.Lock(), N) * 1e9:.0f} ns")
    with mp.Manager() as m:
        print(f"Manager().Lock() (proxy to a broker process): {measure(m.Lock(), N // 10) * 1e6:.1f} us")
