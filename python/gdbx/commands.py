"""gdb commands: info goroutines, goroutine, info ms, info ps, info sched, gcore.

Every command's invoke is wrapped by _one_line_errors: whatever escapes it
(gdb's own errors from the commands it runs, the native module's) reaches
the user as one gdb error line, never as a Python exception."""

import functools
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


def _one_line_errors(invoke):
    """Wraps a command's invoke: a gdb.error (from a gdb command it ran, a
    memory read) becomes a gdb.GdbError with its message, which gdb prints
    as one error line; the native module's errors likewise, with `gdbx: `;
    anything else (a bug) as one line naming it."""

    @functools.wraps(invoke)
    def wrapper(self, arg, from_tty):
        try:
            return invoke(self, arg, from_tty)
        except (gdb.GdbError, KeyboardInterrupt):
            raise
        except gdb.error as e:
            raise gdb.GdbError(str(e)) from None
        except (RuntimeError, ValueError) as e:
            raise gdb.GdbError("gdbx: %s" % e) from None
        except Exception as e:
            raise gdb.GdbError("gdbx: internal error (%s: %s); please report it" % (type(e).__name__, e)) from None

    return wrapper


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

    @_one_line_errors
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

    @_one_line_errors
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

    @_one_line_errors
    def invoke(self, arg, from_tty):
        st = _st()
        gdb.write(_call(st.prog.info_ps, st.reader(), st.threads(pcs=False)))


class InfoSched(gdb.Command):
    """Show the scheduler: global run queue, idle Ms and Ps, spinning Ms."""

    def __init__(self):
        super().__init__("info sched", gdb.COMMAND_STACK)

    @_one_line_errors
    def invoke(self, arg, from_tty):
        st = _st()
        gdb.write(_call(st.prog.info_sched, st.reader(), st.threads(pcs=False)))


_BT_RE = re.compile(r"^(bt|backtrace|where)\b")
_FRAME_NUM_RE = re.compile(r"^#(\d+)", re.M)
_LEVEL_RE = re.compile(r"\blevel (\d+)")


def _renumber(text, hidden):
    """The goroutine's frames start at gdb frame `hidden` (the thread's own
    frames above are hidden): show them from #0."""
    return _FRAME_NUM_RE.sub(lambda m: "#%-*d" % (len(m.group(1)), int(m.group(1)) - hidden), text)


def _renumber_levels(text, hidden):
    """gdb's `level N` in an error message, in the goroutine's numbering."""
    if not hidden:
        return text
    return _LEVEL_RE.sub(lambda m: "level %d" % (int(m.group(1)) - hidden), text)


_FRAME_HEAD_RE = re.compile(r"^#(\d+)\s+(?:(0x[0-9a-fA-F]+) in )?")


def _frame_line(line):
    """A backtrace's frame line `#N  [0xPC in ]NAME (ARGS) ...`: (level,
    pc or None, start and end of NAME), or None. A Rust name may hold
    spaces and parentheses inside its <...> (`catch_unwind<(), F>`): NAME
    ends at the first ` (` outside them."""
    m = _FRAME_HEAD_RE.match(line)
    if not m:
        return None
    depth = 0
    i = m.end()
    while i < len(line):
        c = line[i]
        if c == "<":
            depth += 1
        elif c == ">" and depth and line[i - 1] != "-":  # not `fn() -> T`
            depth -= 1
        elif c == " " and depth == 0 and line.startswith(" (", i):
            break
        elif c == "\n":
            break
        i += 1
    if i == m.end():
        return None
    pc = int(m.group(2), 16) if m.group(2) else None
    return int(m.group(1)), pc, m.end(), i


def _newest_pc():
    try:
        return int(gdb.newest_frame().pc())
    except gdb.error:
        return 0


def _name_frames(st, lines):
    """Gives the frame lines of a backtrace the names the symboliser knows
    (`st.prog.frame_name`): Go names for our runtime's exported functions,
    and for Go the inlined functions' own names (gdb gives an inlined Go
    frame its caller's). A line with an address starts a pc's chain of
    frames (innermost inlined first); lines without one continue it, the
    last being the real function."""
    chains = []
    for i, line in enumerate(lines):
        f = _frame_line(line)
        if not f:
            continue
        if f[1] is not None:
            # A return address: its call is looked up.
            chains.append((f[1] - 1, []))
        elif not chains:
            # Frame #0 (or an inlined frame in it) has no address: its pc.
            chains.append((_newest_pc() if f[0] == 0 else 0, []))
        chains[-1][1].append((i, f))
    for probe, members in chains:
        if probe <= 0:
            continue
        for j, (i, (_, _, start, end)) in enumerate(members):
            name = st.prog.frame_name(probe, len(members) - 1 - j)
            line = lines[i]
            if name and name != line[start:end]:
                lines[i] = line[:start] + name + line[end:]


_MORE = "(More stack frames follow...)\n"
_COUNT_RE = re.compile(r"^-?\d+$")
# Frames of the runtime's panic plumbing that a goroutine's stack may hold
# beyond those a count asks for: asked of gdb on top, so that the count
# counts the frames shown.
_PLUMBING_SLACK = 8


def _bt_frames(st, words, limit, hidden, raw):
    """Runs the backtrace `words` (with `limit` frames, or all) and cuts its
    text into the goroutine's frames, each a list of lines (a frame line and
    those `bt -full` prints under it): without the thread's own frames
    (levels < hidden), nothing past runtime.goexit, and, unless `raw`, with
    the symboliser's names and without the runtime's panic plumbing.
    Returns (frames, whether gdb said more frames follow)."""
    cmd = " ".join(words + ([str(limit)] if limit is not None else []))
    text = gdb.execute(cmd, from_tty=False, to_string=True)
    frames, more, ended = [], False, False
    keep, before = False, []
    for line in text.splitlines(True):
        if line == _MORE:
            more = not ended
            continue
        f = _frame_line(line)
        if f is not None or line.startswith("#"):
            keep = not ended and not (f is not None and f[0] < hidden)
            if keep:
                frames.append([line])
                ended = f is not None and unwind.is_goexit(line[f[2] : f[3]])
        elif keep:
            frames[-1].append(line)
        elif not frames and f is None and not line.startswith((" ", "\t")):
            # What gdb says before the first frame (a warning): kept.
            before.append(line)
    if before:
        frames.insert(0, before)
    if ended:
        more = False
    if raw:
        return frames, more
    heads = [fr[0] for fr in frames]
    plumbing = []
    for head in heads:
        f = _frame_line(head)
        plumbing.append(f is not None and unwind.is_panic_plumbing(head[f[2] : f[3]]))
    _name_frames(st, heads)
    out = []
    for fr, head, drop in zip(frames, heads, plumbing):
        if not drop:
            out.append([head] + fr[1:])
    return out, more


def _fast_bt(st, cmd, hidden):
    """`bt` of a goroutine without frame filters (gdb's fast path): the
    thread's own frames (levels < hidden) are cut from the text, as is what
    gdb finds past runtime.goexit; frames get the symboliser's names and
    the runtime's panic plumbing is left out, as plain `bt`'s frame filter
    does (unless `-no-filters` asks for gdb's own frames); they are
    renumbered from #0. `bt`'s options pass through; a frame count (N, or
    -N for the outermost N) counts the goroutine's frames shown."""
    words = cmd.split()
    raw = "-no-filters" in words[1:]
    count = int(words.pop()) if len(words) > 1 and _COUNT_RE.match(words[-1]) else None
    if not raw:
        words.insert(1, "-no-filters")
    limit = None
    if count is not None and count >= 0:
        limit = count + hidden + (0 if raw else _PLUMBING_SLACK)
    frames, more = _bt_frames(st, words, limit, hidden, raw)
    if limit is not None and more and len(frames) < count:
        frames, more = _bt_frames(st, words, None, hidden, raw)
    if count is not None and count >= 0:
        more = more or len(frames) > count
        frames = frames[:count]
    elif count is not None:
        frames, more = frames[max(len(frames) + count, 0) :], False
    text = "".join("".join(fr) for fr in frames) + (_MORE if more else "")
    return _renumber(text, hidden)


# Commands that select or describe a frame by its number: the number is the
# goroutine's (its #K in `goroutine N bt`), so it is shifted past the
# thread's hidden frames, and the frame numbers they print shifted back.
_FRAME_CMD_RE = re.compile(r"^(frame|f|select-frame)(\s+level)?(\s+(\d+))?\s*$")
_FRAME_WORDS = ("frame", "f", "select-frame", "up", "down", "info frame")
_STACK_LEVEL_RE = re.compile(r"^Stack level (\d+)", re.M)
_INLINED_INTO_RE = re.compile(r"inlined into frame (\d+)")
_LEVEL_SPEC_RE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _find_function_frame(st, name, hidden, top):
    """`frame function NAME` among the goroutine's frames (gdb's own would
    find the thread's frame first when it runs the same function): the
    level of the innermost one running NAME (gdb's name or the Go name)."""
    f = gdb.newest_frame()
    while f is not None and f.level() <= top:
        if f.level() >= hidden:
            names = {f.name(), unwind.shown_name(st.prog, f)}
            func = f.function()
            if func is not None:
                names.update((func.name, func.print_name))
            if name in names:
                return f.level()
        f = f.older()
    raise gdb.GdbError('No frame for function "%s".' % name)


def _frame_apply(words, hidden, top):
    """`frame apply all|N|-N|level L... CMD` over the goroutine's frames:
    the gdb command with their levels (`frame apply level A-B CMD`)."""
    rest = words[2:]
    if not rest:
        return None
    if rest[0] == "all":
        return "frame apply level %d-%d %s" % (hidden, top, " ".join(rest[1:]))
    if _COUNT_RE.match(rest[0]):
        n = int(rest[0])
        lo, hi = (hidden, min(hidden + n - 1, top)) if n >= 0 else (max(top + n + 1, hidden), top)
        return "frame apply level %d-%d %s" % (lo, hi, " ".join(rest[1:]))
    if rest[0] == "level":
        specs = []
        i = 1
        while i < len(rest) and _LEVEL_SPEC_RE.match(rest[i]):
            m = _LEVEL_SPEC_RE.match(rest[i])
            lo = int(m.group(1)) + hidden
            hi = int(m.group(2)) + hidden if m.group(2) else lo
            if hi > top:
                raise gdb.GdbError("No frame at level %d." % (hi - hidden))
            specs.append("%d-%d" % (lo, hi))
            i += 1
        return "frame apply level %s %s" % (" ".join(specs), " ".join(rest[i:]))
    return None


def _frame_cmd(st, cmd, hidden):
    """Runs a frame command in the goroutine's numbering; returns its text,
    or None when `cmd` is no frame command. Only the goroutine's frames can
    be selected: from its innermost (the thread's own frames are hidden) to
    its runtime.goexit."""
    words = cmd.split()
    if not any(cmd == w or cmd.startswith(w + " ") for w in _FRAME_WORDS):
        return None
    top = unwind.outermost_level(hidden)
    m = _FRAME_CMD_RE.match(cmd)
    level = None
    if m and m.group(4):
        level = int(m.group(4)) + hidden
        if level > top:
            raise gdb.GdbError("No frame at level %s." % m.group(4))
    elif words[0] in ("up", "down") and (len(words) == 1 or len(words) == 2 and words[1].isdigit()):
        n = int(words[1]) if len(words) == 2 else 1
        cur = unwind.selected_level()
        if words[0] == "up":
            if cur >= top and len(words) == 1:
                raise gdb.GdbError("Initial frame selected; you cannot go up.")
            level = min(cur + n, top)
        else:
            if cur <= hidden and len(words) == 1:
                raise gdb.GdbError("Bottom (innermost) frame selected; you cannot go down.")
            level = max(cur - n, hidden)
    elif words[:2] in (["frame", "function"], ["f", "function"]) and len(words) > 2:
        level = _find_function_frame(st, cmd.split(None, 2)[2].strip(), hidden, top)
    elif words[:2] in (["frame", "apply"], ["f", "apply"]):
        cmd = _frame_apply(words, hidden, top) or cmd
    elif words[:2] == ["info", "frame"] and len(words) == 3 and words[2].isdigit():
        if int(words[2]) + hidden > top:
            raise gdb.GdbError("No frame at level %s." % words[2])
        cmd = "info frame level %d" % (int(words[2]) + hidden)
    if level is not None:
        # Selected quietly, then shown: a command that changes the selection
        # prints through gdb's observer, which to_string cannot capture.
        unwind.select_level(level)
        if words[0] == "select-frame":
            return ""
        cmd = "frame"
    text = gdb.execute(cmd, from_tty=False, to_string=True)
    if unwind.selected_level() < hidden:
        # `frame address` of one of the thread's own frames.
        unwind.select_level(hidden)
        raise gdb.GdbError("gdbx: that frame is the thread's own, not the goroutine's (its frames start at #0)")
    text = _STACK_LEVEL_RE.sub(lambda m: "Stack level %d" % (int(m.group(1)) - hidden), text)
    text = _INLINED_INTO_RE.sub(lambda m: "inlined into frame %d" % (int(m.group(1)) - hidden), text)
    lines = text.splitlines(True)
    f = _frame_line(lines[0]) if lines and cmd == "frame" else None
    name = unwind.shown_name(st.prog, gdb.selected_frame()) if f else None
    if name and name != lines[0][f[2] : f[3]]:
        lines[0] = lines[0][: f[2]] + name + lines[0][f[3] :]
    return _renumber("".join(lines), hidden)


# The gdb commands that resume the program (or pop the selected frame):
# run in a parked goroutine's context they would act on the thread it is
# unwound on. Known by the text of their `help`, so that every alias and
# abbreviation gdb accepts (`c`, `fin`, `s`, `u`, `adv`) is known too.
_RESUME_COMMANDS = (
    "continue", "finish", "step", "next", "stepi", "nexti", "until", "advance", "jump", "return",
    "signal", "reverse-continue", "reverse-finish", "reverse-step", "reverse-next", "reverse-stepi",
    "reverse-nexti",
)  # fmt: skip
_RESUME_HELP = {}


def _help(word):
    try:
        return gdb.execute("help %s" % word, to_string=True)
    except gdb.error:
        return None


def _resume_command(cmd):
    """The resuming gdb command `cmd` runs (its full name), or None."""
    if not cmd or not cmd.split():
        return None
    if not _RESUME_HELP:
        for name in _RESUME_COMMANDS:
            text = _help(name)
            if text:
                _RESUME_HELP[text] = name
    word = cmd.split()[0]
    if not re.match(r"^[A-Za-z][\w-]*$", word):
        return None
    return _RESUME_HELP.get(_help(word))


def _refuse_resume(info, resume, thread):
    raise gdb.GdbError(
        "gdbx: goroutine %d is not running on a thread (%s): `%s` would resume thread %d instead; "
        "to stop the goroutine where it runs next, set a breakpoint there (`break FILE:LINE`) and `continue`"
        % (info["goid"], info["status"], resume, thread)
    )


def _interrupted_context(target):
    """Where Go's signal handler interrupted the goroutine running on thread
    `target` (unwind.signal_context), or None when it is not in the handler."""
    if not unwind.go_signal_frames_possible():
        return None
    with unwind.kept_selection():
        target.switch()
        return unwind.signal_context()


def _run_on(st, info, cmd, header, level=None, restore_after=True, resume=None):
    """Runs `cmd` with the goroutine `info` as the current context
    (`resume`: the resuming command `cmd` is, from _resume_command)."""
    goid = info["goid"]
    if header:
        gdb.write("goroutine %d [%s]:\n" % (goid, info["status"]))
    if info["state"] == "dead":
        gdb.write("gdbx: goroutine %d is dead\n" % goid)
        return
    thread = info["thread"]
    in_handler = False
    if thread is not None and (info["on_cpu"] or info["pc"] == 0):
        # Running: its context is its thread's registers.
        target = next((t for t in gdb.selected_inferior().threads() if t.num == thread), None)
        if target is None:
            gdb.write("gdbx: goroutine %d runs on thread %d, which gdb does not list\n" % (goid, thread))
            return
        if resume:
            # On its thread, which the program resumes: the selection of a
            # goroutine ends there, and the frames of the old stop are gone.
            unwind.deselect_goroutine(quiet=True)
            cur = gdb.selected_thread()
            target.switch()
            try:
                gdb.execute(cmd, from_tty=False)
            finally:
                if cur is not None and cur.is_valid():
                    cur.switch()
            return
        interrupted = _interrupted_context(target)
        if interrupted is None:
            if not cmd:
                unwind.deselect_goroutine(quiet=True)
                target.switch()
                gdb.write("[goroutine %d is running on thread %d: switched to it]\n" % (goid, thread))
                return
            with unwind.kept_selection(), unwind.thread_frames(), unwind.past_main():
                target.switch()
                if _BT_RE.match(cmd):
                    gdb.write(_fast_bt(st, cmd, 0))
                else:
                    gdb.execute(cmd, from_tty=False)
            return
        # In Go's signal handler (a crash core of GOTRACEBACK=crash): its
        # frames are those the signal interrupted, unwound as a parked
        # goroutine's from the registers the kernel saved.
        info = dict(info, **interrupted)
        in_handler = True
        if not cmd:
            unwind.deselect_goroutine(quiet=True)
            target.switch()
    else:
        if not info["pc"]:
            gdb.write("gdbx: goroutine %d has no saved context (%s)\n" % (goid, info["status"]))
            return
        if not info["started"]:
            # Its saved context is the entry's first instruction, which gdb
            # would read as a return address into whatever precedes it, and
            # its stack holds only what the stack's previous owner left.
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
        if resume:
            _refuse_resume(info, resume, gdb.selected_thread().num)
    if cmd is None:
        hidden = unwind.select_goroutine(info)
        if in_handler:
            gdb.write(
                "[goroutine %d is in Go's signal handler on thread %d: switched to it; its frames from where "
                "the signal interrupted it start at frame #%d; `goroutine off` to leave]\n" % (goid, thread, hidden)
            )
            return
        gdb.write(
            "[goroutine %d (%s): its frames from its saved context start at frame #%d; `goroutine off` to leave]\n"
            % (goid, info["status"], hidden)
        )
        return
    bt = _BT_RE.match(cmd) is not None
    if in_handler and bt:
        gdb.write(
            "[goroutine %d is in Go's signal handler on thread %d (`thread %d`, `bt` shows the handler): "
            "its frames from where the signal interrupted it]\n" % (goid, thread, thread)
        )
    with unwind.goroutine_context(info, level, select=not bt, restore_after=restore_after):
        hidden = unwind.hidden_frames()
        try:
            text = _fast_bt(st, cmd, hidden) if bt else _frame_cmd(st, cmd, hidden)
            if text is None:
                gdb.execute(cmd, from_tty=False)
            else:
                gdb.write(text)
        except gdb.error as e:
            raise gdb.GdbError(_renumber_levels(str(e), hidden)) from None


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
core files too. COMMAND runs in the goroutine's innermost frame, frame numbers
are the goroutine's (#0 is its innermost), and the selected thread and frame
are left as they were. Commands that resume the program (continue, step,
finish, ...) are refused for a parked goroutine: they would resume the thread
it is unwound on. A running goroutine is its thread: the command runs there;
one caught in Go's signal handler (a GOTRACEBACK=crash core) is unwound from
where the signal interrupted it.
`goroutine ID` alone selects the goroutine, like `thread N` (and `$g()`,
`$goid()` are then that goroutine's)."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK)

    @_one_line_errors
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
        resume = _resume_command(cmd)
        if first == "all":
            if cmd is None:
                raise gdb.GdbError("usage: goroutine all COMMAND")
            if resume:
                raise gdb.GdbError(
                    "gdbx: `goroutine all %s` would resume the program once per goroutine; "
                    "run `%s` on one goroutine's thread (`thread N`, see `info goroutines`)" % (cmd, resume)
                )
            infos = _call(st.prog.goroutines, st.reader(), threads, None)
            level = unwind.inline_depth()
            with unwind.kept_selection():
                for info in infos:
                    try:
                        _run_on(st, info, cmd, True, level, restore_after=False)
                    except (gdb.error, gdb.GdbError) as e:
                        gdb.write("gdbx: goroutine %d: %s\n" % (info["goid"], e))
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
        _run_on(st, infos[0], cmd, False, resume=resume)

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

    @_one_line_errors
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
    stop, a prompt, the end of a `source`: _install_source_hook) and does
    its work when the script ran since."""
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


# gdb runs a user command `hookpost-source` after each `source`; gdb's Python
# has no event for "a script defined a command" (gdb 13's gdb.events: no
# new_objfile, stop or prompt follows a `source` in batch mode), so this
# hook is what makes the take-over happen before the next command runs
# when a script or -ex sources runtime-gdb.py. A hookpost-source of the
# user's own is left alone (adding `python import gdbx.commands;
# gdbx.commands.take_over_from_go_script()` to it does the same).
_SOURCE_HOOK = "define hookpost-source\npython import gdbx.commands; gdbx.commands.take_over_from_go_script()\nend"
_HOOKED = []


def _install_source_hook():
    if _HOOKED:
        return
    _HOOKED.append(True)
    try:
        gdb.execute("show user hookpost-source", to_string=True)
        return  # the user's own
    except gdb.error:
        pass
    try:
        gdb.execute(_SOURCE_HOOK, to_string=True)
    except gdb.error:
        pass


_REGISTERED = []


def register():
    _install_source_hook()
    if _REGISTERED:
        return
    _REGISTERED.append(True)
    InfoGoroutines()
    InfoMs()
    InfoPs()
    InfoSched()
    Goroutine()
    Gcore()
