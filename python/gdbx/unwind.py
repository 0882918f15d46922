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

A second unwinder, GoSigreturnUnwinder, carries backtraces through Go's
signal handler: gdb knows a kernel signal frame only by glibc's restorer
names (`__restore_rt`, or a name with "sigaction" in it), and Go 1.19's
restorer is `runtime.sigreturn`, so gdb used to stop there (`0x7 in ?? ()`)
on a core of a GOTRACEBACK=crash program.
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


# Go's signal restorer: `runtime.sigreturn__sigaction` (Go 1.21 on, named so
# that gdb's own check would take it), `runtime.sigreturn` before (1.19:
# the ELF symbol is runtime.sigreturn.abi0, DWARF says runtime.sigreturn).
_RESTORER_NAMES = ("runtime.sigreturn__sigaction", "runtime.sigreturn")
# mov $15 (rt_sigreturn), %rax; syscall
_RESTORER_CODE = bytes.fromhex("48c7c00f0000000f05")
# The kernel's rt_sigframe: when the handler returns into the restorer, sp
# points at its ucontext; uc_mcontext (struct sigcontext) is at offset 40
# (uc_flags, uc_link, uc_stack), and starts with these registers, 8 bytes
# each (Linux x86-64).
_MCONTEXT = 40
_SIGCONTEXT_REGS = (
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
    "rdi", "rsi", "rbp", "rbx", "rdx", "rax", "rcx", "rsp", "rip",
)  # fmt: skip
# (inferior pid, generation) -> the restorer addresses of the program.
_RESTORERS = {"key": None, "pcs": frozenset()}
# Bumped by the events after which the addresses may have moved (a stop:
# a PIE relocated at start-up; another program or shared library).
_RESTORER_GEN = [0]


def _restorers():
    """The run-time addresses of Go's signal restorer in the program, looked
    up once per program and stop (DWARF symbols: no frame is needed, as
    this runs while gdb unwinds) and checked against its code."""
    key = (gdb.selected_inferior().pid, _RESTORER_GEN[0])
    if _RESTORERS["key"] == key:
        return _RESTORERS["pcs"]
    pcs = set()
    for name in _RESTORER_NAMES:
        try:
            sym = gdb.lookup_global_symbol(name)
            if sym is None or not sym.is_function:
                continue
            pc = int(sym.value().address)
            code = gdb.selected_inferior().read_memory(pc, len(_RESTORER_CODE)).tobytes()
        except (gdb.error, ValueError, OverflowError):
            continue
        if code == _RESTORER_CODE:
            pcs.add(pc)
    _RESTORERS["key"] = key
    _RESTORERS["pcs"] = frozenset(pcs)
    return _RESTORERS["pcs"]


def go_signal_frames_possible():
    """Whether the program has Go's signal restorer (signal_context may find
    a goroutine in the handler): a set lookup once per stop."""
    return bool(_restorers())


def signal_context():
    """When the selected thread is in Go's signal handler (a frame of its
    stack is the restorer): the registers the signal interrupted, as a
    saved context {"pc", "sp", "bp"}; else None. gdb's backtrace of the
    thread cannot go on far past the restorer when the signal stack lies
    above the interrupted stack (it stops at a frame "inner" to the one
    before; only its own signal frames are exempt), so a goroutine caught in
    the handler is unwound from this context, as a parked one is from its
    G.sched."""
    pcs = _restorers()
    if not pcs:
        return None
    with thread_frames():
        try:
            f = gdb.newest_frame()
            for _ in range(64):
                if f is None:
                    return None
                if int(f.pc()) in pcs:
                    older = f.older()
                    if older is None:
                        return None
                    return {
                        "pc": int(older.pc()),
                        "sp": int(older.read_register("rsp")),
                        "bp": int(older.read_register("rbp")),
                    }
                f = f.older()
        except gdb.error:
            return None
    return None


class GoSigreturnUnwinder(gdb.unwinder.Unwinder):
    """The frame of Go's signal restorer, the return address the kernel
    gave Go's signal handler (runtime.sigtramp): its caller is the code the
    signal interrupted, with the registers the kernel saved in the
    ucontext at the frame's sp. gdb recognises a signal frame only by the
    restorer's name (glibc's), so without this the backtrace of a thread in
    Go's handler ends there, at `0x7 in ?? ()`: on a core of a program that
    crashed with GOTRACEBACK=crash, the crashing goroutine's own frames
    (gopanic, main.main) were lost. Runs for every frame: a set lookup of
    the frame's pc, nothing more, unless it is the restorer."""

    def __init__(self):
        super().__init__("gdbx-go-sigreturn")

    def __call__(self, pending):
        pcs = _restorers()
        if not pcs:
            return None
        pc = pending.read_register("rip")
        if int(pc) not in pcs:
            return None
        sp = pending.read_register("rsp")
        try:
            raw = gdb.selected_inferior().read_memory(int(sp) + _MCONTEXT, 8 * len(_SIGCONTEXT_REGS)).tobytes()
        except gdb.MemoryError:
            return None
        info = pending.create_unwind_info(_FrameId(sp, pc))
        u64 = pending.architecture().integer_type(64, False)
        types = {"rip": pc.type, "rsp": sp.type, "rbp": sp.type}
        for i, reg in enumerate(_SIGCONTEXT_REGS):
            value = int.from_bytes(raw[8 * i : 8 * i + 8], "little")
            info.add_saved_register(reg, gdb.Value(value).cast(types.get(reg, u64)))
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
    """Makes goroutine `info` the context the selected thread unwinds as,
    and selects the goroutine's innermost frame (with `select`; else the
    thread's newest). Call it with `backtrace past-main` on (past_main()):
    when the thread is in main.main, gdb would not unwind past the frame
    the unwinder claims, and the goroutine would have no frames."""
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
    restore(ctx, ctx["hidden"] if select else 0)


def selected_level():
    """The selected frame's level (0 when there is none)."""
    try:
        return gdb.selected_frame().level()
    except gdb.error:
        return 0


def select_level(level):
    """Selects the frame at `level`, or the outermost one when the stack is
    shorter; nothing when there is no stack."""
    try:
        f = gdb.newest_frame()
        while f.level() < level:
            older = f.older()
            if older is None:
                break
            f = older
        f.select()
    except gdb.error:
        pass


def restore(saved, level=0):
    """Makes `saved` (from current(); None: no goroutine) the goroutine
    selection: gdb forgets the frames it unwound under the previous one,
    and the frame at `level` is selected (the newest by default, so that gdb
    never looks for a frame of the previous selection). The one way every
    selection change ends."""
    _CURRENT["ctx"] = saved
    gdb.invalidate_cached_frames()
    select_level(level)


@contextlib.contextmanager
def kept_selection():
    """After the block, the selected thread, goroutine and frame (by level)
    are those of before it, whatever the block selected."""
    try:
        thread = gdb.selected_thread()
    except gdb.error:
        thread = None
    saved, level = _CURRENT["ctx"], selected_level()
    try:
        yield
    finally:
        if thread is not None and thread.is_valid() and gdb.selected_thread() != thread:
            thread.switch()
        restore(saved, level)


@contextlib.contextmanager
def goroutine_context(info, level=None, select=True, restore_after=True):
    """Within the block, the selected thread unwinds as goroutine `info`,
    with `backtrace past-main` on (`level`: the thread's inline depth, when
    already known; `select`: select the goroutine's innermost frame;
    `restore_after`: go back to the previous goroutine and frame after the
    block, else the caller does, with kept_selection())."""
    with kept_selection() if restore_after else contextlib.nullcontext(), past_main():
        _activate(info, level, select)
        yield


@contextlib.contextmanager
def thread_frames():
    """Within the block, threads unwind as themselves (no goroutine
    selected); the caller restores the frame selection it wants."""
    saved = _CURRENT["ctx"]
    if saved is None:
        yield
        return
    restore(None)
    try:
        yield
    finally:
        restore(saved)


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
    """The goroutine `goroutine N` selected (its info dict), or None."""
    return _CURRENT["ctx"]


def selected_g():
    """The G address of the goroutine the selected thread unwinds as right
    now (selected by `goroutine N`, or the N of a running `goroutine N
    CMD`), or None: then the thread's own g is the current goroutine. `$g()`
    and `$goid()` use it first, as Delve's commands use the selected
    goroutine."""
    ctx = _active()
    return ctx["addr"] if ctx is not None else None


# Whether `goroutine N` turned `backtrace past-main` on for its selection
# (the thread frame the unwinder claims may be main.main, where gdb would
# stop every backtrace); it goes back off when the selection ends.
_PAST_MAIN_FOR_SELECTION = [False]


def _end_past_main_for_selection():
    if _PAST_MAIN_FOR_SELECTION[0]:
        _PAST_MAIN_FOR_SELECTION[0] = False
        gdb.execute("set backtrace past-main off", to_string=True)


def select_goroutine(info):
    """`goroutine N`: the selected thread unwinds as goroutine `info` until
    `goroutine off` or the program resumes; its innermost frame is selected.
    Returns the gdb level of that frame."""
    # First: with past-main off, a thread in main.main has no frame below
    # the one the unwinder claims, and the goroutine's would not be found.
    if not gdb.parameter("backtrace past-main"):
        gdb.execute("set backtrace past-main on", to_string=True)
        _PAST_MAIN_FOR_SELECTION[0] = True
    _activate(info)
    return _CURRENT["ctx"]["hidden"]


def hidden_frames():
    """How many of the thread's own frames the selected goroutine hides."""
    ctx = _CURRENT["ctx"]
    return ctx["hidden"] if ctx is not None else 0


_GOEXIT_NAME_RE = re.compile(r"^runtime[.\[]goexit\b")


def is_goexit(name):
    """Whether a frame's function `name` is runtime.goexit, where every
    goroutine's stack ends (what gdb unwinds past it is no frame)."""
    return name is not None and _GOEXIT_NAME_RE.match(name) is not None


def outermost_level(start):
    """The level of the outermost frame of the selected goroutine (or
    thread) from level `start` on: its runtime.goexit frame, else the last
    frame gdb finds."""
    f = gdb.newest_frame()
    while f.level() < start and f.older() is not None:
        f = f.older()
    while not is_goexit(f.name()):
        older = f.older()
        if older is None:
            break
        f = older
    return f.level()


def clamp_to_goroutine():
    """While a goroutine is selected, a frame below its innermost one
    (`down`, `frame 0`) is the thread's own, which the unwinder made claim
    the goroutine as its caller, and the one above its runtime.goexit is
    none: select the goroutine's innermost (or goexit) frame again, and say
    so. Runs before each prompt."""
    ctx = _active()
    if ctx is None:
        return
    level = selected_level()
    if level >= ctx["hidden"]:
        # Past runtime.goexit (`up` from it): no frame of the goroutine's.
        try:
            newer = gdb.selected_frame().newer()
            if newer is None or newer.level() < ctx["hidden"] or not is_goexit(newer.name()):
                return
        except gdb.error:
            return
        newer.select()
        gdb.write(
            "gdbx: frame #%d is past goroutine %d's runtime.goexit, no frame of it: back at frame #%d\n"
            % (level, ctx["goid"], newer.level())
        )
        return
    select_level(ctx["hidden"])
    gdb.write(
        "gdbx: frame #%d is thread %d's own frame, not goroutine %d's: back at the goroutine's frame #%d "
        "(`goroutine off` to see the thread's frames)\n" % (level, ctx["on_thread"], ctx["goid"], ctx["hidden"])
    )


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


def is_panic_plumbing(name):
    """Whether the function `name` is the runtime's panic-catching plumbing."""
    return name is not None and _PANIC_PLUMBING_RE.match(name) is not None


def _is_panic_plumbing(fd):
    try:
        name = fd.function()
        if isinstance(name, int):
            # No debug information (__rust_try): its ELF symbol.
            name = _elf_symbol(name)
    except gdb.error:
        return False
    return isinstance(name, str) and is_panic_plumbing(name)


class GoFrameFilter:
    """Go names for runtime functions; hides the thread's frame #0 while a
    goroutine is selected, and the runtime's panic-catching frames; a
    selected goroutine's backtrace ends at runtime.goexit."""

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
            try:
                # The selected goroutine's stack ends at runtime.goexit:
                # what gdb unwinds past it (`0x0 in ?? ()`) is no frame, as
                # in `goroutine N bt`. (A thread's own backtrace is gdb's.)
                if ctx is not None and is_goexit(fd.inferior_frame().name()):
                    return
            except gdb.error:
                pass


_REGISTERED = []


def register():
    if _REGISTERED:
        return
    _REGISTERED.append(True)
    gdb.unwinder.register_unwinder(None, GoroutineUnwinder(), replace=True)
    gdb.unwinder.register_unwinder(None, GoSigreturnUnwinder(), replace=True)
    gdb.frame_filters["gdbx"] = GoFrameFilter()

    def on_cont(_ev):
        if _CURRENT["ctx"] is not None:
            _CURRENT["ctx"] = None
            _end_past_main_for_selection()

    def moved(*_):
        _RESTORER_GEN[0] += 1

    gdb.events.cont.connect(on_cont)
    gdb.events.stop.connect(moved)
    gdb.events.new_objfile.connect(moved)
    gdb.events.free_objfile.connect(moved)
    gdb.events.clear_objfiles.connect(moved)
    gdb.events.before_prompt.connect(clamp_to_goroutine)
