"""Pretty printers for G, M, P and Sched, and $g(), $goid(), $m(), $p()."""

import gdb

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
            return st.prog.describe(st.reader(), st.threads(pcs=self.kind == "G"), self.kind, int(addr))
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
            desc = st.prog.describe(st.reader(), st.threads(pcs=self.kind == "G"), self.kind, addr)
        except (RuntimeError, ValueError, gdb.error) as e:
            desc = str(e)
        return "(*%s) %#x: %s" % (self.kind, addr, desc)


class _AllP:
    """`print 'runtime.allp'`: the live Ps, allp[0..gomaxprocs]."""

    def __init__(self, val, n):
        self.val = val
        self.n = n

    def to_string(self):
        return "allp (%d Ps)" % self.n

    def children(self):
        for i in range(self.n):
            p = self.val[i]
            if int(p) == 0:
                yield "[%d]" % i, "null"
            else:
                yield "[%d]" % i, p.dereference()

    def display_hint(self):
        return "array"


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
        # Only computed pointers ($g(), $m(), $p()): pointers in variables and
        # frame arguments print as plain addresses.
        kind = names.get(str(inner.name)) if inner.code == gdb.TYPE_CODE_STRUCT else None
        if kind in ("G", "M", "P") and val.address is None and not val.is_lazy:
            return _Ptr(kind, val)
        if inner.code == gdb.TYPE_CODE_PTR and names.get(str(inner.target().strip_typedefs().name)) == "P":
            allp = st.prog.symbol("runtime.allp")
            addr = val.address
            if allp is not None and addr is not None and int(addr) == allp:
                sym = st.prog.symbol("runtime.gomaxprocs")
                try:
                    raw = gdb.selected_inferior().read_memory(sym, 4).tobytes()
                except (gdb.error, gdb.MemoryError, TypeError):
                    return None
                n = int.from_bytes(raw, "little", signed=True)
                if 0 < n <= 1024:
                    return _AllP(val, n)
    return None


def _selected_g(st):
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
    st = _state()
    if st is None:
        raise gdb.GdbError("gdbx: no program on the gdbx runtime is loaded")
    return st


def _ptr(st, short, addr):
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
        return _ptr(st, "G", _selected_g(st))


class GoidFunc(gdb.Function):
    """$goid(): the id of the selected thread's current goroutine (0 on a g0, -1 with none)."""

    def __init__(self):
        super().__init__("goid")

    def invoke(self):
        st = _st()
        g = _selected_g(st)
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


def register(objfile):
    if _REGISTERED:
        return
    _REGISTERED.append(True)
    gdb.pretty_printers.append(_lookup)
    GFunc()
    GoidFunc()
    MFunc()
    PFunc()
