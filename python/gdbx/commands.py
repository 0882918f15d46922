"""gdb commands: info goroutines, goroutine, info ms, info ps, info sched."""

import re

import gdb

from . import require_state, unwind
from . import state as _state


def _st():
    st = require_state()
    if not gdb.selected_inferior().pid:
        raise gdb.GdbError("gdbx: the program is not running (start it, or load a core file)")
    st.sync_target()
    return st


def _call(fn, *args):
    try:
        return fn(*args)
    except ValueError as e:
        raise gdb.GdbError(str(e)) from None
    except RuntimeError as e:
        raise gdb.GdbError("gdbx: %s" % e) from None


class InfoGoroutines(gdb.Command):
    """List goroutines, sorted by id.

Usage: info goroutines [-s|-status STATUS[,STATUS...]] [-l|-location SUBSTRING]
                       [-g|-group] [-n|-limit N] [-a|-all]

One line per goroutine that is not dead: `*` when it is running on a thread
right now, its id, status (and wait reason), the M and gdb thread running it,
the user-code location it is at (the first frame outside the runtime and Rust's
standard library: from its saved context, or from its thread's registers when
running) and where it was created.
  -status   keep only these statuses (running runnable waiting syscall idle dead)
  -location keep only goroutines whose location contains SUBSTRING
  -group    one line per location with the number of goroutines there
  -limit    show at most N lines
  -all      include dead goroutines
From 10,000 goroutines on (without -location or -limit), the table is written
while the stacks are read, and its Location column is 60 wide."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        st = _st()
        args = gdb.string_to_argv(arg)
        _call(st.prog.info_goroutines, st.reader(), st.threads(), args, gdb.write)

    def complete(self, text, word):
        return _complete_info_goroutines(text, word)


class InfoMs(gdb.Command):
    """List the runtime's Ms (OS threads): id, LWP, gdb thread, current goroutine, P, state."""

    def __init__(self):
        super().__init__("info ms", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        st = _st()
        try:
            sel = gdb.selected_thread().num
        except (gdb.error, AttributeError):
            sel = None
        gdb.write(_call(st.prog.info_ms, st.reader(), st.threads(pcs=False), sel))


class InfoPs(gdb.Command):
    """List the runtime's Ps: id, status, M, run-queue length, runnext, queued goroutines."""

    def __init__(self):
        super().__init__("info ps", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        st = _st()
        gdb.write(_call(st.prog.info_ps, st.reader(), st.threads(pcs=False)))


class InfoSched(gdb.Command):
    """Show the scheduler: global run queue, idle Ms and Ps, spinning Ms."""

    def __init__(self):
        super().__init__("info sched", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        st = _st()
        gdb.write(_call(st.prog.info_sched, st.reader(), st.threads(pcs=False)))


_BT_RE = re.compile(r"^(bt|backtrace|where)\b")
_FRAME_NUM_RE = re.compile(r"^#(\d+)", re.M)


def _renumber(text, hidden):
    """The goroutine's frames start at gdb frame `hidden` (the thread's own
    frames above are hidden): show them from #0."""
    return _FRAME_NUM_RE.sub(lambda m: "#%-*d" % (len(m.group(1)), int(m.group(1)) - hidden), text)


_GOEXIT_RE = re.compile(r" in runtime[.\[]goexit\b")
_FRAME_LINE_RE = re.compile(r"^#(\d+)\s+(?:(0x[0-9a-fA-F]+) in )?(\S+) \(")


def _name_frames(st, lines):
    """Gives the frame lines of a backtrace the names the symboliser knows
    (`st.prog.frame_name`): Go names for our runtime's exported functions,
    and for Go the inlined functions' own names (gdb gives an inlined Go
    frame its caller's). A line with an address starts a pc's chain of
    frames (innermost inlined first); lines without one continue it, the
    last being the real function."""
    chains = []
    for i, line in enumerate(lines):
        m = _FRAME_LINE_RE.match(line)
        if not m:
            continue
        if m.group(2) or not chains:
            pc = int(m.group(2), 16) if m.group(2) else 0
            chains.append((pc, []))
        chains[-1][1].append((i, m))
    for pc, members in chains:
        if pc <= 0:
            continue
        for j, (i, m) in enumerate(members):
            name = st.prog.frame_name(pc - 1, len(members) - 1 - j)
            if name and name != m.group(3):
                line = lines[i]
                lines[i] = line[: m.start(3)] + name + line[m.end(3) :]


def _fast_bt(st, cmd, hidden):
    """`bt` of a goroutine without frame filters (gdb's fast path): the
    thread's own frames (levels < hidden) are cut from the text, frames get
    the symboliser's names (unless `-no-filters` asks for gdb's own) and
    are renumbered from #0. `bt`'s options pass through; a frame count
    counts the goroutine's frames."""
    words = cmd.split()
    raw = "-no-filters" in words[1:]
    if words[1:] and words[-1].isdigit():
        words[-1] = str(int(words[-1]) + hidden)
    if not raw:
        words.insert(1, "-no-filters")
    text = gdb.execute(" ".join(words), from_tty=False, to_string=True)
    out = []
    keep = True
    ended = False
    for line in text.splitlines(True):
        if line.startswith("#"):
            num = line[1:].split(" ", 1)[0]
            # A goroutine's stack ends at runtime.goexit: what gdb unwinds
            # past it is no frame (`0x0 in ?? ()`).
            keep = not (num.isdigit() and int(num) < hidden) and not ended
            ended = ended or (keep and _GOEXIT_RE.search(line) is not None)
        if keep:
            out.append(line)
    if not raw:
        _name_frames(st, out)
    return _renumber("".join(out), hidden)


# Commands that select or describe a frame by its number: the number is the
# goroutine's (its #K in `goroutine N bt`), so it is shifted past the
# thread's hidden frames, and the frame numbers they print shifted back.
_FRAME_CMD_RE = re.compile(r"^(frame|f|select-frame)(\s+level)?(\s+(\d+))?\s*$")
_FRAME_WORDS = ("frame", "f", "select-frame", "up", "down", "info frame")
_STACK_LEVEL_RE = re.compile(r"^Stack level (\d+)", re.M)
_INLINED_INTO_RE = re.compile(r"inlined into frame (\d+)")


def _frame_cmd(st, cmd, hidden):
    """Runs a frame command in the goroutine's numbering; returns its text,
    or None when `cmd` is no frame command."""
    words = cmd.split()
    if not any(cmd == w or cmd.startswith(w + " ") for w in _FRAME_WORDS):
        return None
    m = _FRAME_CMD_RE.match(cmd)
    level = None
    if m and m.group(4):
        level = int(m.group(4)) + hidden
    elif words[0] in ("up", "down") and (len(words) == 1 or len(words) == 2 and words[1].isdigit()):
        n = int(words[1]) if len(words) == 2 else 1
        level = gdb.selected_frame().level() + (n if words[0] == "up" else -n)
        level = max(level, hidden)
    elif words[:2] == ["info", "frame"] and len(words) == 3 and words[2].isdigit():
        cmd = "info frame %d" % (int(words[2]) + hidden)
    if level is not None:
        # Selected quietly, then shown: a command that changes the selection
        # prints through gdb's observer, which to_string cannot capture.
        gdb.execute("select-frame %d" % level, from_tty=False)
        if words[0] == "select-frame":
            return ""
        cmd = "frame"
    text = gdb.execute(cmd, from_tty=False, to_string=True)
    text = _STACK_LEVEL_RE.sub(lambda m: "Stack level %d" % (int(m.group(1)) - hidden), text)
    text = _INLINED_INTO_RE.sub(lambda m: "inlined into frame %d" % (int(m.group(1)) - hidden), text)
    lines = text.splitlines(True)
    m = _FRAME_LINE_RE.match(lines[0]) if lines else None
    name = unwind.shown_name(st.prog, gdb.selected_frame()) if m else None
    if name and name != m.group(3):
        lines[0] = lines[0][: m.start(3)] + name + lines[0][m.end(3) :]
    return _renumber("".join(lines), hidden)


def _run_on(st, info, cmd, header, level=None, restore_after=True):
    """Runs `cmd` with the goroutine `info` as the current context."""
    goid = info["goid"]
    if header:
        gdb.write("goroutine %d [%s]:\n" % (goid, info["status"]))
    if info["state"] == "dead":
        gdb.write("gdbx: goroutine %d is dead\n" % goid)
        return
    thread = info["thread"]
    if thread is not None and (info["on_cpu"] or info["pc"] == 0):
        # Running: its context is its thread's registers.
        cur = gdb.selected_thread()
        target = next((t for t in gdb.selected_inferior().threads() if t.num == thread), None)
        if target is None:
            gdb.write("gdbx: goroutine %d runs on thread %d, which gdb does not list\n" % (goid, thread))
            return
        if not cmd:
            unwind.deselect_goroutine(quiet=True)
            target.switch()
            gdb.write("[goroutine %d is running on thread %d: switched to it]\n" % (goid, thread))
            return
        with unwind.thread_frames(), unwind.past_main():
            target.switch()
            try:
                gdb.execute(cmd, from_tty=False)
            finally:
                cur.switch()
        return
    if not info["pc"]:
        gdb.write("gdbx: goroutine %d has no saved context (%s)\n" % (goid, info["status"]))
        return
    if not info["started"]:
        # Its saved context is the entry's first instruction, which gdb
        # would read as a return address into whatever precedes it, and its
        # stack holds only what the stack's previous owner left.
        if cmd is not None and _BT_RE.match(cmd):
            gdb.write(_entry_frame(st, info["startpc"]))
        gdb.write("[goroutine %d has not started: it will run %s]\n" % (goid, info["entry"]))
        return
    if info["stack_missing"]:
        gdb.write(
            "gdbx: goroutine %d: its stack is not in memory (a core that left it out); %s\n"
            % (goid, _call(st.prog.missing_stacks_advice, st.reader()))
        )
        return
    if cmd is None:
        hidden = unwind.select_goroutine(info)
        gdb.write(
            "[goroutine %d (%s): its frames from its saved context start at frame #%d; `goroutine off` to leave]\n"
            % (goid, info["status"], hidden)
        )
        return
    bt = _BT_RE.match(cmd) is not None
    with unwind.goroutine_context(info, level, select=not bt, restore_after=restore_after), unwind.past_main():
        hidden = unwind.hidden_frames()
        text = _fast_bt(st, cmd, hidden) if bt else _frame_cmd(st, cmd, hidden)
        if text is None:
            gdb.execute(cmd, from_tty=False)
        else:
            gdb.write(text)


def _entry_frame(st, pc):
    """A backtrace line, as gdb writes one, for the entry function at `pc`."""
    name = st.prog.frame_name(pc, 0)
    if not name:
        block = gdb.block_for_pc(pc)
        name = block.function.print_name if block is not None and block.function else "??"
    sal = gdb.find_pc_line(pc)
    at = " at %s:%d" % (sal.symtab.filename, sal.line) if sal.symtab is not None else ""
    return "#0  %s ()%s\n" % (name, at)


class Goroutine(gdb.Command):
    """Run a gdb command in the context of a goroutine.

Usage: goroutine ID [COMMAND]     e.g. goroutine 5 bt, goroutine 5 info locals
       goroutine all COMMAND      run COMMAND for every goroutine that is not dead
       goroutine off              leave the goroutine selected by `goroutine ID`
       goroutine                  show the current goroutine

For a goroutine that is parked, gdb unwinds from its saved context (G.sched:
sp, pc, bp) through a frame unwinder: no register is written, so this works on
core files too. A running goroutine is its thread: the command runs there.
`goroutine ID` alone selects the goroutine, like `thread N`."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        arg = arg.strip()
        if not arg:
            self.show_current()
            return
        if arg == "off":
            unwind.deselect_goroutine()
            return
        first, _, cmd = arg.partition(" ")
        cmd = cmd.strip() or None
        st = _st()
        threads = st.threads(pcs=False)
        if first == "all":
            if cmd is None:
                raise gdb.GdbError("usage: goroutine all COMMAND")
            infos = _call(st.prog.goroutines, st.reader(), threads, None)
            level = unwind.inline_depth()
            saved = unwind.current()
            try:
                for info in infos:
                    try:
                        _run_on(st, info, cmd, True, level, restore_after=False)
                    except gdb.error as e:
                        gdb.write("gdbx: goroutine %d: %s\n" % (info["goid"], e))
            finally:
                unwind.restore(saved)
            return
        try:
            goid = int(first, 0)
        except ValueError:
            raise gdb.GdbError(
                "goroutine: %r is not a goroutine id (see `info goroutines`)" % first
            ) from None
        infos = _call(st.prog.goroutines, st.reader(), threads, [goid])
        if not infos:
            raise gdb.GdbError("gdbx: no goroutine %d (see `info goroutines`)" % goid)
        _run_on(st, infos[0], cmd, False)


    def show_current(self):
        """`goroutine` alone: the current goroutine, as Delve shows it: the
        one `goroutine N` selected, else the selected thread's."""
        st = _st()
        selected = unwind.current()
        if selected is not None:
            gdb.write(
                "goroutine %d selected (`goroutine off` to leave): %s\n"
                % (selected["goid"], st.prog.describe(st.reader(), st.threads(), "G", selected["addr"]))
            )
            return
        from . import printers

        g = printers.selected_g(st)
        thread = gdb.selected_thread().num
        if g == 0:
            gdb.write("thread %d runs no goroutine\n" % thread)
            return
        gdb.write("thread %d: %s\n" % (thread, st.prog.describe(st.reader(), st.threads(), "G", g)))

    def complete(self, text, word):
        """Goroutine ids, `all` and `off` for the first word; a gdb command after it."""
        first, sep, rest = text.lstrip().partition(" ")
        if sep:
            try:
                lines = gdb.execute("complete %s" % rest, to_string=True).splitlines()
            except gdb.error:
                return []
            return _relative([line.split(" ")[-1] for line in lines], rest.split(" ")[-1], word)
        try:
            st = _st()
            ids = [str(i) for i in st.prog.goids(st.reader())]
        except gdb.GdbError:
            ids = []
        return _relative(ids + ["all", "off"], first, word)


def _relative(candidates, token, word):
    """The candidates that complete `token` (the text's last word), cut to
    what replaces gdb's `word` (gdb breaks words at `-` and `,` too)."""
    cut = len(token) - len(word or "")
    return [c[cut:] for c in candidates if c.startswith(token)]


# `info goroutines` options and the statuses -status takes.
_OPTIONS = ["-status", "-location", "-group", "-limit", "-all", "-s", "-l", "-g", "-n", "-a"]
_STATUSES = ["running", "runnable", "waiting", "syscall", "idle", "dead"]


def _complete_info_goroutines(text, word):
    words = text.split(" ")
    token, before = words[-1], [w for w in words[:-1] if w]
    if before and before[-1] in ("-s", "-status"):
        done, _, last = token.rpartition(",")
        prefix = done + "," if done else ""
        return _relative([prefix + s for s in _STATUSES if s.startswith(last)], token, word)
    if before and before[-1] in ("-l", "-location", "-n", "-limit"):
        return []
    return _relative([o for o in _OPTIONS if len(o) > 2 or len(token) > 1], token, word)


class Gcore(gdb.Command):
    """Save a core file of the program: gdb's generate-core-file, then the goroutine stacks it skipped.

Usage: gcore [FILE]     (default core.PID)

gdb copies each mapping in 1 MiB blocks and drops the rest of a mapping at the
first block it cannot read whole. The runtime's stacks sit in big mappings
with a guard page (MADV_GUARD_INSTALL) before each stack, so gdb alone loses
every stack chunk. After gdb has written the file, the skipped parts are
copied in page by page from the live process (guard pages stay zero)."""

    def __init__(self):
        super().__init__("gcore", gdb.COMMAND_FILES, gdb.COMPLETE_FILENAME)

    def invoke(self, arg, from_tty):
        inf = gdb.selected_inferior()
        args = gdb.string_to_argv(arg)
        path = args[0] if args else "core.%d" % inf.pid
        gdb.execute("generate-core-file %s" % arg, from_tty=from_tty)
        st = _state()
        if st is None or not inf.pid:
            return
        st.sync_target()
        try:
            segs, nbytes, guards = st.prog.repair_core(path)
        except RuntimeError as e:
            gdb.write("gdbx: could not complete %s: %s\n" % (path, e))
            return
        if segs:
            gdb.write(
                "gdbx: copied %d bytes of %d mappings gdb skipped into %s (%d guard pages left as zeros)\n"
                % (nbytes, segs, path, guards)
            )


def _go_script():
    """Go's runtime-gdb.py runs in __main__ and defines GoroutinesCmd there:
    that class, or None when the script has not run (again)."""
    import __main__

    return getattr(__main__, "GoroutinesCmd", None) if hasattr(__main__, "goobjfile") else None


# The GoroutinesCmd class of the runtime-gdb.py run taken over last.
_TAKEN_FROM = [None]


def take_over_from_go_script():
    """When Go's runtime-gdb.py is loaded too, ours replace its `info
    goroutines` and `goroutine` (and its printers, `$len`, `$cap`, `$dtype`,
    `iface`), and say so, once. gdb runs the script after our new_objfile
    hook, so this is called again at the next event (another objfile, a
    stop, a prompt) and does its work when the script ran since."""
    script = _go_script()
    if script is None or script is _TAKEN_FROM[0]:
        return
    first = _TAKEN_FROM[0] is None
    _TAKEN_FROM[0] = script
    _REGISTERED.clear()
    register()
    from . import values

    values.reregister()
    if first:
        print(
            "gdbx: Go's runtime-gdb.py is loaded too: gdbx takes over `info goroutines` and `goroutine` "
            "(and its printers, $len, $cap, $dtype, iface)"
        )


_REGISTERED = []


def register():
    if _REGISTERED:
        return
    _REGISTERED.append(True)
    InfoGoroutines()
    InfoMs()
    InfoPs()
    InfoSched()
    Goroutine()
    Gcore()
