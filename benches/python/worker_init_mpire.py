"""mpire's worker_init + worker_state on the work of benches/worker_init.rs.

    pip install mpire
    python3 benches/python/worker_init_mpire.py [rounds]

Optional: not run in CI. Jobs that need a costly setup, simulated by a
sleep then a 4096-entry lookup table, on 4 workers:

- worker_init: the setup runs once per worker (mpire's `worker_init`, the
  table kept in `worker_state`); 1,000 jobs.
- per job: the setup in every job; 40 jobs with the 50 ms setup (1,000 would
  take 12.5 s), figures per job and extrapolated to 1,000; 1,000 jobs with a
  1 ms setup; and worker_init with no sleep (the pool's own cost).

Both for mpire's default start method on Linux (fork: worker processes) and
for start_method="threading" (threads, as in the Rust bench), with mpire's
default chunk size. Times run from making the pool to the end of its `with`
block (pool start, inits, the map and the workers' exit included); minimum
and median over the rounds, interleaved.
"""
import os
import statistics
import sys
import time

from mpire import WorkerPool

WORKERS = 4
TABLE = 4096
MASK = 0xFFFFFFFFFFFFFFFF


def setup(ms):
    time.sleep(ms / 1000)
    return [(i * 0x9E3779B97F4A7C15) & MASK for i in range(TABLE)]


def job(table, x):
    acc = x
    for k in range(16):
        acc ^= table[((x * 31) + k) % TABLE]
    return acc


def make_init(ms):
    def init(worker_state):
        worker_state["table"] = setup(ms)

    return init


def with_state_task(worker_state, x):
    return job(worker_state["table"], x)


def make_per_job_task(ms):
    def task(x):
        return job(setup(ms), x)

    return task


def with_state(ms, jobs, start_method):
    t0 = time.perf_counter()
    with WorkerPool(WORKERS, use_worker_state=True, start_method=start_method) as pool:
        out = pool.map(with_state_task, range(jobs), worker_init=make_init(ms))
    t1 = time.perf_counter()
    assert len(out) == jobs
    return t1 - t0


def per_job(ms, jobs, start_method):
    t0 = time.perf_counter()
    with WorkerPool(WORKERS, start_method=start_method) as pool:
        out = pool.map(make_per_job_task(ms), range(jobs))
    t1 = time.perf_counter()
    assert len(out) == jobs
    return t1 - t0


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"mpire, {WORKERS} workers, {rounds} rounds; load average at start: {os.getloadavg()}")
    cases = []
    for sm in ("fork", "threading"):
        cases += [
            (f"[{sm}] worker_init, 50 ms setup", with_state, 50, 1000, sm),
            (f"[{sm}] 50 ms setup per job", per_job, 50, 40, sm),
            (f"[{sm}] worker_init, 1 ms setup", with_state, 1, 1000, sm),
            (f"[{sm}] 1 ms setup per job", per_job, 1, 1000, sm),
            (f"[{sm}] worker_init, no sleep (table only)", with_state, 0, 1000, sm),
        ]
    times = {c[0]: [] for c in cases}
    for _ in range(rounds):
        for name, fn, ms, jobs, sm in cases:
            times[name].append(fn(ms, jobs, sm))
    for name, _, ms, jobs, _ in cases:
        results = times[name]
        med = statistics.median(results)
        print(
            f"{name:<46} {jobs:>5} jobs: min {min(results) * 1e3:9.1f} ms, "
            f"median {med * 1e3:9.1f} ms, "
            f"{med / jobs * 1e6:9.1f} us/job; 1000 jobs: {med / jobs * 1e6:.1f} ms"
        )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
