"""gdb helper for the benchmark: `python timed("info goroutines", 3)` prints the
best wall time of running a gdb command (output captured, not printed)."""

import time

import gdb


def timed(cmd, reps=3):
    best = None
    lines = 0
    for _ in range(reps):
        t = time.perf_counter()
        out = gdb.execute(cmd, to_string=True)
        d = time.perf_counter() - t
        best = d if best is None else min(best, d)
        lines = out.count("\n")
    print("TIME %s | %.3f s | %d lines" % (cmd, best, lines))
