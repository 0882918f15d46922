"""Pretty printers for G, M, P and Sched, and $g(), $goid(), $m(), $p().

A printer never switches threads or selects frames: gdb may be printing a
frame's arguments (`bt` on a release build, where a G pointer lives in a
register), and changing threads then pulls that frame from under it (gdb
aborts in read_var_value). Printers use what this stop already knows of the
threads (State.threads_for_printer); the functions, which gdb calls while
it evaluates an expression, may read the threads themselves.
"""

import gdb

from . import require_state
from . import state as _state


def _lookup_type(st, short):
    name = st.prog.type_name(short)
    if not name:
        return None
    try:
        return gdb.lookup_type(name)
    except gdb.error:
        return None


class _Printer:
    def __init__(self, kind, val):
        self.kind = kind
        self.val = val

    def to_string(self):
        st = _state()
        addr = self.val.address
        if st is None or addr is None:
            return None
        try:
            st.sync_target()
            return st.prog.describe(st.reader(), st.threads_for_printer(), self.kind, int(addr))
        except (RuntimeError, ValueError, gdb.error) as e:
            return "%s at %#x: %s" % (self.kind, int(addr), e)


class _Ptr:
    """A computed pointer to a G, M or P (`print $g()`): the address and
    the object's one-line description."""

    def __init__(self, kind, val):
        self.kind = kind
        self.val = val

    def to_string(self):
        addr = int(self.val)
        if addr == 0:
            return "(*%s) 0x0" % self.kind
        st = _state()
        try:
            st.sync_target()
            desc = st.prog.describe(st.reader(), st.threads_for_printer(), self.kind, addr)
        except (RuntimeError, ValueError, gdb.error) as e:
            desc = str(e)
        return "(*%s) %#x: %s" % (self.kind, addr, desc)


class _Table:
    """`print runtime::runtime2::ALLP` / `ALLGS`: the runtime's array of
    pointers, its first `n` entries (gomaxprocs, allglen) by what they point to."""

    def __init__(self, title, val, n):
        self.title = title
        self.val = val
        self.n = n

    def to_string(self):
        return self.title

    def children(self):
        for i in range(self.n):
            p = self.val[i]
            if int(p) == 0:
                yield "[%d]" % i, "null"
            else:
                yield "[%d]" % i, p.dereference()

    def display_hint(self):
        return "array"


# The arrays of pointers _Table prints: (the pointee's kind, the array's
# symbol, the symbol of its length, the length's size, the title).
_TABLES = (
    ("P", "runtime.allp", "runtime.gomaxprocs", 4, "allp (%d Ps)"),
    ("G", "runtime.allgs", "runtime.allglen", 8, "allgs (%d Gs)"),
)


def _table(st, val, kind):
    addr = val.address
    if addr is None:
        return None
    for k, sym, len_sym, len_size, title in _TABLES:
        if k != kind or st.prog.symbol(sym) != int(addr):
            continue
        at = st.prog.symbol(len_sym)
        try:
            raw = gdb.selected_inferior().read_memory(at, len_size).tobytes()
        except (gdb.error, TypeError):
            return None
        n = int.from_bytes(raw, "little", signed=True)
        if 0 <= n <= 1 << 24:
            return _Table(title % n, val, n)
    return None


def _names(st):
    if st.names is None:
        st.names = {}
        for short in ("G", "M", "P", "Sched"):
            full = st.prog.type_name(short)
            if full:
                st.names[full] = short
    return st.names


def _lookup(val):
    t = val.type.strip_typedefs()
    if t.code != gdb.TYPE_CODE_STRUCT and t.code != gdb.TYPE_CODE_PTR:
        return None
    st = _state()
    if st is None:
        return None
    names = _names(st)
    if t.code == gdb.TYPE_CODE_STRUCT:
        kind = names.get(str(t.name)) or names.get(str(t))
        if kind:
            return _Printer(kind, val)
        return None
    if t.code == gdb.TYPE_CODE_PTR:
        inner = t.target().strip_typedefs()
        # Only the pointers $g(), $m() and $p() returned: pointers in
        # variables and frame arguments (in registers on release builds, so
        # without an address too) print as plain addresses.
        kind = names.get(str(inner.name)) if inner.code == gdb.TYPE_CODE_STRUCT else None
        if kind in ("G", "M", "P") and val.address is None and (kind, int(val)) in _RETURNED:
            return _Ptr(kind, val)
        if inner.code == gdb.TYPE_CODE_PTR:
            pointee = inner.target().strip_typedefs()
            kind = names.get(str(pointee.name)) if pointee.code == gdb.TYPE_CODE_STRUCT else None
            if kind in ("G", "P"):
                return _table(st, val, kind)
    return None


def selected_g(st):
    t = gdb.selected_thread()
    if t is None:
        raise gdb.GdbError("no thread selected")
    fs = int(gdb.newest_frame().read_register("fs_base"))
    st.sync_target()
    return st.prog.thread_g(st.reader(), fs)


def _m_of_selected(st):
    t = gdb.selected_thread()
    fs = int(gdb.newest_frame().read_register("fs_base"))
    st.sync_target()
    return st.prog.m_of_thread(st.reader(), t.ptid[1] or t.ptid[2], fs)


def _st():
    """The state for a function: the program is loaded and running (or a
    core), and its runtime initialised (no G, M or P exists before
    schedinit: say so rather than show the g0 the thread starts on). The
    threads of this stop are read now, for the printer of the result."""
    st = require_state()
    if not gdb.selected_inferior().pid:
        raise gdb.GdbError("gdbx: the program is not running (start it, or load a core file)")
    st.sync_target()
    try:
        st.prog.info_sched(st.reader(), [])
    except RuntimeError as e:
        raise gdb.GdbError("gdbx: %s" % e) from None
    st.threads()
    return st


# (kind, address) of the pointers the functions returned lately.
_RETURNED = []


def _ptr(st, short, addr):
    _RETURNED.append((short, addr))
    del _RETURNED[:-16]
    t = _lookup_type(st, short)
    if t is None:
        return gdb.Value(addr)
    return gdb.Value(addr).cast(t.pointer())


class GFunc(gdb.Function):
    """$g(): the current goroutine (G pointer) of the selected thread, from its thread-local slot."""

    def __init__(self):
        super().__init__("g")

    def invoke(self):
        st = _st()
        return _ptr(st, "G", selected_g(st))


class GoidFunc(gdb.Function):
    """$goid(): the id of the selected thread's current goroutine (0 on a g0, -1 with none)."""

    def __init__(self):
        super().__init__("goid")

    def invoke(self):
        st = _st()
        g = selected_g(st)
        if g == 0:
            return gdb.Value(-1)
        return _ptr(st, "G", g).dereference()["goid"]


class MFunc(gdb.Function):
    """$m(): the M (runtime thread) of the selected thread, found by its LWP."""

    def __init__(self):
        super().__init__("m")

    def invoke(self):
        st = _st()
        t = gdb.selected_thread()
        if t is None:
            raise gdb.GdbError("no thread selected")
        return _ptr(st, "M", _m_of_selected(st))


class PFunc(gdb.Function):
    """$p(): the P held by the selected thread's M (null when none)."""

    def __init__(self):
        super().__init__("p")

    def invoke(self):
        st = _st()
        t = gdb.selected_thread()
        if t is None:
            raise gdb.GdbError("no thread selected")
        maddr = _m_of_selected(st)
        if maddr == 0:
            return _ptr(st, "P", 0)
        m = _ptr(st, "M", maddr)
        return _ptr(st, "P", int(m.dereference()["p"]))


_REGISTERED = []


def register():
    if _REGISTERED:
        return
    _REGISTERED.append(True)
    gdb.pretty_printers.append(_lookup)
    GFunc()
    GoidFunc()
    MFunc()
    PFunc()
