"""gdb helper for the benchmark: `python timed("info goroutines", 3)` prints the
best wall time of running a gdb command (output captured, not printed), and the
CPU time gdb's process spent (user + system) in that best run - the figure that
does not depend on what else the machine is doing."""

import time

import gdb


def timed(cmd, reps=3):
    best = None
    cpu = None
    lines = 0
    for _ in range(reps):
        t = time.perf_counter()
        c = time.process_time()
        out = gdb.execute(cmd, to_string=True)
        dc = time.process_time() - c
        d = time.perf_counter() - t
        if best is None or d < best:
            best, cpu = d, dc
        lines = out.count("\n")
    print("TIME %s | %.3f s wall | %.3f s cpu | %d lines" % (cmd, best, cpu, lines))
