"""gdb helper for the benchmark: `python timed("info goroutines", 3)` prints the
best wall time of running a gdb command (output captured, not printed), and the
CPU time gdb's process spent (user + system) in that best run - the figure that
does not depend on what else the machine is doing.

It then prints a second line, `TIME  gdb.write of that text`: the best time
gdb itself takes to write the same text (a Python string already made) into
the same capture. No command that prints that text inside gdb can be faster;
at 100,000 goroutines it is most of the 0.1 s target."""

import time

import gdb


def _best(run, reps):
    best = cpu = None
    for _ in range(reps):
        t = time.perf_counter()
        c = time.process_time()
        run()
        dc = time.process_time() - c
        d = time.perf_counter() - t
        if best is None or d < best:
            best, cpu = d, dc
    return best, cpu


def timed(cmd, reps=3):
    outs = []
    best, cpu = _best(lambda: outs.append(gdb.execute(cmd, to_string=True)), reps)
    out = outs[-1]
    lines = out.count("\n")
    print(f"TIME {cmd} | {best:.3f} s wall | {cpu:.3f} s cpu | {lines} lines")
    global _text
    _text = out
    wbest, wcpu = _best(lambda: gdb.execute("python gdb.write(_text)", to_string=True), reps)
    print(f"TIME   gdb.write of that text | {wbest:.3f} s wall | {wcpu:.3f} s cpu | {len(out)} bytes")
