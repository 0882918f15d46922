"""The goroutine frame unwinder, and Go names in backtraces.

`goroutine ID CMD` must show a parked goroutine's stack without writing any
register (Go's runtime-gdb.py writes $pc/$sp, which fails on core files). So
the unwinder below claims the selected thread's innermost frame (#0) while a
goroutine is selected, and says that its caller has the goroutine's saved
context: rip = G.sched.pc, rsp = G.sched.sp, rbp = G.sched.bp. The runtime
saves exactly the state "as if the switching call had just returned into its
caller", so from frame #1 on gdb's ordinary DWARF CFI unwinds the goroutine.
The frame filter hides frame #0 (the thread's own) while a goroutine is
selected, and every backtrace shows the runtime's exported functions under
their Go names (runtime.schedule rather than runtime::proc::schedule).
"""

import contextlib
import re

import gdb
import gdb.unwinder
from gdb.FrameDecorator import FrameDecorator

from . import state as _state

# The selected goroutine: dict(goid, sp, pc, bp, status, thread=<gdb thread num>).
_CURRENT = {"ctx": None}


class _FrameId:
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


# Nesting depth of State.threads(), which must see the threads' own frames.
_SUSPENDED = [0]


def _active():
    ctx = _CURRENT["ctx"]
    if ctx is None or _SUSPENDED[0]:
        return None
    try:
        t = gdb.selected_thread()
    except gdb.error:
        return None
    if t is None or t.num != ctx["on_thread"]:
        return None
    return ctx


class GoroutineUnwinder(gdb.unwinder.Unwinder):
    def __init__(self):
        super().__init__("gdbx-goroutine")

    def __call__(self, pending):
        ctx = _CURRENT["ctx"]
        if ctx is None or pending.level() != ctx["level"]:
            return None
        ctx = _active()
        if ctx is None:
            return None
        pc = pending.read_register("rip")
        sp_t = pending.read_register("rsp").type
        bp_t = pending.read_register("rbp").type
        # Frame #0's id: just below the goroutine's sp, so that gdb sees the
        # goroutine's frames as outer ones (gdb wants gdb.Values here).
        info = pending.create_unwind_info(_FrameId(gdb.Value(ctx["sp"] - 8).cast(sp_t), pc))
        info.add_saved_register("rip", gdb.Value(ctx["pc"]).cast(pc.type))
        info.add_saved_register("rsp", gdb.Value(ctx["sp"]).cast(sp_t))
        info.add_saved_register("rbp", gdb.Value(ctx["bp"]).cast(bp_t))
        return info


def inline_depth():
    """How many inlined frames sit above the selected thread's innermost
    real frame (the one the unwinder claims)."""
    with thread_frames():
        f = gdb.newest_frame()
        level = 0
        while f is not None and f.type() == gdb.INLINE_FRAME:
            f = f.older()
            level += 1
    return level


def _activate(info, level=None, select=True):
    t = gdb.selected_thread()
    if t is None:
        raise gdb.GdbError("gdbx: no thread to unwind the goroutine on")
    ctx = dict(info)
    ctx["on_thread"] = t.num
    # The thread's innermost real frame is the one to claim: inlined frames
    # above it belong to gdb's inline unwinder (release builds).
    if level is None:
        level = inline_depth()
    ctx["level"] = level
    ctx["hidden"] = level + 1
    restore(ctx, select=False)
    if not select:
        return
    f = gdb.newest_frame()
    for _ in range(ctx["hidden"]):
        if f is not None:
            f = f.older()
    if f is not None:
        f.select()


def restore(saved, select=True):
    """Makes `saved` (from current(); None: no goroutine) the goroutine
    selection: gdb forgets the frames it unwound under the previous one
    and, with `select`, selects the newest frame. The one way every
    selection change ends."""
    _CURRENT["ctx"] = saved
    gdb.invalidate_cached_frames()
    if not select:
        return
    try:
        gdb.newest_frame().select()
    except gdb.error:
        pass


@contextlib.contextmanager
def goroutine_context(info, level=None, select=True, restore_after=True):
    """Within the block, the selected thread unwinds as goroutine `info`
    (`level`: the thread's inline depth, when already known; `select`:
    select the goroutine's innermost frame; `restore_after`: go back to the
    previous state after the block, else the caller does with restore())."""
    saved = _CURRENT["ctx"]
    _activate(info, level, select)
    if not restore_after:
        yield
        return
    try:
        yield
    finally:
        restore(saved)


@contextlib.contextmanager
def thread_frames():
    """Within the block, threads unwind as themselves (no goroutine selected)."""
    saved = _CURRENT["ctx"]
    if saved is None:
        yield
        return
    restore(None, select=False)
    try:
        yield
    finally:
        restore(saved, select=False)


@contextlib.contextmanager
def past_main():
    """Within the block, backtraces go past main: a goroutine's stack goes on
    below main.main (runtime.main, runtime.goexit), and the thread frame the
    unwinder claims may be main.main itself. The user's setting is restored."""
    if gdb.parameter("backtrace past-main"):
        yield
        return
    gdb.execute("set backtrace past-main on", to_string=True)
    try:
        yield
    finally:
        gdb.execute("set backtrace past-main off", to_string=True)


def current():
    return _CURRENT["ctx"]


# Whether `goroutine N` turned `backtrace past-main` on for its selection
# (the thread frame the unwinder claims may be main.main, where gdb would
# stop every backtrace); it goes back off when the selection ends.
_PAST_MAIN_FOR_SELECTION = [False]


def _end_past_main_for_selection():
    if _PAST_MAIN_FOR_SELECTION[0]:
        _PAST_MAIN_FOR_SELECTION[0] = False
        gdb.execute("set backtrace past-main off", to_string=True)


def select_goroutine(info):
    _activate(info)
    if not gdb.parameter("backtrace past-main"):
        gdb.execute("set backtrace past-main on", to_string=True)
        _PAST_MAIN_FOR_SELECTION[0] = True
    return _CURRENT["ctx"]["hidden"]


def hidden_frames():
    """How many of the thread's own frames the selected goroutine hides."""
    ctx = _CURRENT["ctx"]
    return ctx["hidden"] if ctx is not None else 0


def deselect_goroutine(quiet=False):
    if _CURRENT["ctx"] is None:
        if not quiet:
            gdb.write("gdbx: no goroutine is selected\n")
        return
    restore(None)
    _end_past_main_for_selection()


class _GoName(FrameDecorator):
    def __init__(self, fobj, prog):
        super().__init__(fobj)
        self._prog = prog

    def function(self):
        name = shown_name(self._prog, self.inferior_frame())
        if name:
            return name
        func = super().function()
        if isinstance(func, int):
            # No function: what gdb's own backtrace prints, the ELF symbol
            # or `??` (an address left to gdb prints as nothing at all).
            return _elf_symbol(func) or "??"
        return func


_SYMBOL_RE = re.compile(r"^(\S+)(?: \+ \d+)? in section ")


def _elf_symbol(pc):
    if pc <= 0:
        return None
    try:
        text = gdb.execute("info symbol %#x" % pc, to_string=True)
    except gdb.error:
        return None
    m = _SYMBOL_RE.match(text)
    return m.group(1) if m else None


def shown_name(prog, frame):
    """The symboliser's name for gdb's `frame` (see frame_name in gdb-ext),
    or None to keep gdb's."""
    try:
        if frame.type() not in (gdb.NORMAL_FRAME, gdb.INLINE_FRAME):
            return None
        pc = frame.pc()
        # Where the frame sits in its pc's chain: steps out to the real
        # function, and whether the chain is the innermost (looked up at pc)
        # or a caller's (at the return address - 1).
        from_real, f = 0, frame
        while f is not None and f.type() == gdb.INLINE_FRAME:
            f, from_real = f.older(), from_real + 1
        inner = frame
        while inner.newer() is not None and inner.newer().type() == gdb.INLINE_FRAME and inner.newer().pc() == pc:
            inner = inner.newer()
        probe = pc if inner.level() == 0 else pc - 1
        return prog.frame_name(probe, from_real) if probe > 0 else None
    except (gdb.error, ValueError, OverflowError):
        return None


# The frames between a goroutine's entry and its function that only catch
# an unwinding panic (runtime::signal::run_goroutine's catch_unwind, and the
# closure runtime.main runs main.main in): the runtime's plumbing, hidden as
# Go's tracebacks hide wrappers. `bt -no-filters` shows them.
_PANIC_PLUMBING_RE = re.compile(
    r"^(std::panicking::|std::panic::catch_unwind|core::panic::unwind_safe::"
    r"|__rust_try|runtime::signal::run_goroutine|runtime::rt0::runtime_main::\{closure)"
)


def _is_panic_plumbing(fd):
    try:
        name = fd.function()
    except gdb.error:
        return False
    return isinstance(name, str) and _PANIC_PLUMBING_RE.match(name) is not None


class GoFrameFilter:
    """Go names for runtime functions; hides the thread's frame #0 while a
    goroutine is selected, and the runtime's panic-catching frames."""

    def __init__(self):
        self.name = "gdbx"
        self.priority = 100
        self.enabled = True

    def filter(self, frames):
        st = _state()
        ctx = _active()
        hidden = ctx["hidden"] if ctx is not None else 0
        for fd in frames:
            if hidden:
                try:
                    if fd.inferior_frame().level() < hidden:
                        continue
                except gdb.error:
                    pass
                hidden = 0
            if _is_panic_plumbing(fd):
                continue
            yield _GoName(fd, st.prog) if st is not None else fd


_REGISTERED = []


def register():
    if _REGISTERED:
        return
    _REGISTERED.append(True)
    gdb.unwinder.register_unwinder(None, GoroutineUnwinder(), replace=True)
    gdb.frame_filters["gdbx"] = GoFrameFilter()

    def on_cont(_ev):
        if _CURRENT["ctx"] is not None:
            _CURRENT["ctx"] = None
            _end_past_main_for_selection()

    gdb.events.cont.connect(on_cont)
