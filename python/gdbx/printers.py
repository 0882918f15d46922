"""Pretty printers for G, M, P, Sched and Chan<T>, and $g(), $goid(), $m(), $p().

A printer never switches threads or selects frames: gdb may be printing a
frame's arguments (`bt` on a release build, where a G pointer lives in a
register), and changing threads then pulls that frame from under it (gdb
aborts in read_var_value). Printers use what this stop already knows of the
threads (State.threads_for_printer); the functions, which gdb calls while
it evaluates an expression, may read the threads themselves.
"""

import struct

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


# What the runtime's roots held at this stop (see _roots), by
# (generation, target): the generation moves on at every stop, resume,
# exit and memory write.
_ROOTS = {}
_GENERATION = [0]


def _new_generation(*_):
    _GENERATION[0] += 1
    _ROOTS.clear()


class _Roots:
    """The addresses of the runtime's own objects at this stop: every G of
    `runtime.allgs[0..allglen]`, every M of the `runtime.allm` list (and
    its g0, which is in no allgs), every P of `allp[0..gomaxprocs]`. A
    printer decodes an object only when its address is one of these: any
    other address (a cast of a garbage pointer) decodes into plausible
    nonsense. Both runtimes keep the array's address in the first word of
    `runtime.allgs` and `runtime.allp` (ours: a pointer; Go: a slice).
    `why` says why a root could not be read (the runtime not initialised
    yet, or memory that cannot be read)."""

    # Bounds past which a root is garbage (inspect/src/model.rs's MAX_GS
    # and MAX_MS).
    MAX_GS = 50_000_000
    MAX_MS = 100_000

    def __init__(self, st):
        self.gs, self.ms, self.ps, self.g0s = set(), set(), set(), {}
        self.why = {}
        read = st.reader()

        def word(addr, n=8, signed=False):
            return int.from_bytes(read(addr, n), "little", signed=signed)

        def words(addr, n):
            return struct.unpack("<%dQ" % n, read(addr, n * 8))

        try:
            arr, n = word(st.prog.symbol("runtime.allgs")), word(st.prog.symbol("runtime.allglen"))
            if arr == 0 or n == 0:
                self.why["G"] = "the runtime is not initialised yet (runtime.allgs is empty)"
            elif n > self.MAX_GS:
                self.why["G"] = "runtime.allglen is %d: garbage" % n
            else:
                self.gs = set(words(arr, n))
        except (gdb.error, TypeError) as e:
            self.why["G"] = "cannot read runtime.allgs: %s" % e
        try:
            arr, n = word(st.prog.symbol("runtime.allp")), word(st.prog.symbol("runtime.gomaxprocs"), 4, True)
            if arr == 0 or n <= 0:
                self.why["P"] = "the runtime is not initialised yet (runtime.allp is empty)"
            elif n > self.MAX_MS:
                self.why["P"] = "runtime.gomaxprocs is %d: garbage" % n
            else:
                self.ps = set(words(arr, n))
        except (gdb.error, TypeError) as e:
            self.why["P"] = "cannot read runtime.allp: %s" % e
        try:
            m_t = _lookup_type(st, "M")
            if m_t is None:
                raise TypeError("no type %s" % st.prog.type_name("M"))
            link, g0 = (m_t[f].bitpos // 8 for f in ("alllink", "g0"))
            m = word(st.prog.symbol("runtime.allm"))
            if m == 0:
                self.why["M"] = "the runtime is not initialised yet (runtime.allm is empty)"
            while m != 0 and m not in self.ms and len(self.ms) < self.MAX_MS:
                self.ms.add(m)
                self.g0s[word(m + g0)] = m
                m = word(m + link)
        except (gdb.error, TypeError, KeyError) as e:
            self.why["M"] = "cannot read runtime.allm: %s" % e
        if "M" in self.why and "G" not in self.why:
            self.why["G"] = self.why["M"]  # a g0 cannot be told from garbage

    def refusal(self, st, kind, addr):
        """None when `addr` is one of the runtime's objects of this `kind`,
        else the one line that says it is not (and why it is not decoded)."""
        if kind == "Sched":
            sched = st.prog.symbol("runtime.sched")
            if addr == sched:
                return None
            return "<not runtime.sched: %#x is not its address (%#x)>" % (addr, sched)
        what, root = {
            "G": ("a goroutine", "allgs"),
            "M": ("an M", "allm"),
            "P": ("a P", "allp"),
        }[kind]
        if addr % 8:
            return "<not %s of this program: %#x is misaligned>" % (what, addr)
        found = {"G": self.gs, "M": self.ms, "P": self.ps}[kind]
        if addr in found or (kind == "G" and addr in self.g0s):
            return None
        if kind in self.why:
            return "<%s at %#x: %s>" % (kind, addr, self.why[kind])
        return "<not %s of this program: %#x is in no %s entry>" % (what, addr, root)


def _roots(st):
    key = (_GENERATION[0], id(st), st.target_key)
    roots = _ROOTS.get(key)
    if roots is None:
        _ROOTS.clear()
        roots = _ROOTS[key] = _Roots(st)
    return roots


def _describe(st, kind, addr):
    """The printers' one line for the G, M, P or Sched at `addr`: decoded
    only when it is one of the runtime's own (see _Roots)."""
    st.sync_target()
    refused = _roots(st).refusal(st, kind, addr)
    if refused is not None:
        return refused
    return st.prog.describe(st.reader(), st.threads_for_printer(), kind, addr)


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
            return _describe(st, self.kind, int(addr))
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
            desc = _describe(st, self.kind, addr)
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


# How many waiting goroutines a Chan printer names (it counts them all).
_WAITERS_SHOWN = 8


def _arc_data(arc):
    """The value an `Arc<T>` points to (`ptr.pointer -> ArcInner.data`)."""
    return arc["ptr"]["pointer"].dereference()["data"]


def _waiters(q, limit=1 << 20):
    """(goids of the first waiters, each with its sudog, count) of a WaitQ."""
    shown, n = [], 0
    s = q["first"]
    while int(s) != 0 and n < limit:
        if len(shown) < _WAITERS_SHOWN:
            shown.append(s.dereference())
        n += 1
        s = s.dereference()["next"]
    return shown, n


class _ChanPrinter:
    """`runtime::chan::Chan<T>`: its state, its buffered values oldest
    first, and the goroutines waiting to receive and to send (with the
    value each sender holds)."""

    def __init__(self, val):
        self.val = val
        hchan = _arc_data(val["h"])
        self.elem = hchan.type.strip_typedefs().template_argument(0)
        self.st = hchan["st"]["value"]

    def to_string(self):
        st = self.st
        cap, count = int(st["dataqsiz"]), int(st["qcount"])
        parts = ["%d/%d buffered" % (count, cap)]
        if int(st["closed"]):
            parts.append("closed")
        for what, q, with_value in (("receivers", st["recvq"], False), ("senders", st["sendq"], True)):
            waiting = self._queue(q, with_value)
            if waiting:
                parts.append("%s waiting: %s" % (what, waiting))
        return "%s (%s)" % (self.val.type, "; ".join(parts))

    def display_hint(self):
        return "array"

    def _goid(self, sudog):
        g = sudog["g"]
        return "g%d" % int(g.dereference()["goid"]) if int(g) != 0 else "g?"

    def _queue(self, q, with_value):
        st = _state()
        key = (int(q.address), with_value) if st is not None and q.address is not None else None
        if key is not None and key in st.waitqs:
            return st.waitqs[key]
        text = self._queue_text(q, with_value)
        if key is not None:
            st.waitqs[key] = text
        return text

    def _queue_text(self, q, with_value):
        shown, n = _waiters(q)
        parts = []
        for s in shown:
            text = self._goid(s)
            if with_value and self.elem.sizeof > 0 and int(s["elem"]) != 0:
                text += " sending %s" % s["elem"].cast(self.elem.pointer()).dereference()
            parts.append(text)
        if n > len(shown):
            parts.append("... %d in all" % n)
        return ", ".join(parts)

    def children(self):
        st = self.st
        cap, count, first = int(st["dataqsiz"]), int(st["qcount"]), int(st["recvx"])
        if 0 < cap and count <= cap and self.elem.sizeof > 0:
            buf = st["buf"].cast(self.elem.pointer())
            for i in range(count):
                yield "[%d]" % i, (buf + (first + i) % cap).dereference()


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
        if str(t.name).startswith("runtime::chan::Chan<"):
            try:
                return _ChanPrinter(val)
            except gdb.error:
                return None  # not the layout this printer knows: gdb's own
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
    """The current goroutine's G: the one `goroutine N` selected (or runs a
    command as), else the selected thread's own g."""
    from . import unwind

    chosen = unwind.selected_g()
    if chosen is not None:
        return chosen
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


def _no_args(name, args):
    if args:
        raise gdb.GdbError(
            "$%s() takes no argument (it reads the selected thread; select another with `thread N`)" % name
        )


class GFunc(gdb.Function):
    """$g(): the current goroutine (G pointer) of the selected thread, from its thread-local slot.
$g(N): the G of goroutine N (as `goroutine N` finds it)."""

    def __init__(self):
        super().__init__("g")

    def invoke(self, *args):
        st = _st()
        if not args:
            return _ptr(st, "G", selected_g(st))
        if len(args) > 1:
            raise gdb.GdbError("$g() takes at most one argument, a goroutine id: $g() or $g(7)")
        try:
            goid = int(args[0])
        except (gdb.error, ValueError):
            raise gdb.GdbError("$g(N) wants a goroutine id (a number), not %s" % args[0]) from None
        try:
            found = st.prog.goroutines(st.reader(), st.threads(), [goid])
        except RuntimeError as e:
            raise gdb.GdbError("gdbx: %s" % e) from None
        if not found:
            raise gdb.GdbError("no goroutine %d (info goroutines lists them)" % goid)
        return _ptr(st, "G", found[0]["addr"])


class GoidFunc(gdb.Function):
    """$goid(): the id of the selected thread's current goroutine (0 on a g0, -1 with none)."""

    def __init__(self):
        super().__init__("goid")

    def invoke(self, *args):
        _no_args("goid", args)
        st = _st()
        g = selected_g(st)
        if g == 0:
            return gdb.Value(-1)
        return _ptr(st, "G", g).dereference()["goid"]


class MFunc(gdb.Function):
    """$m(): the M (runtime thread) of the selected thread, found by its LWP."""

    def __init__(self):
        super().__init__("m")

    def invoke(self, *args):
        _no_args("m", args)
        st = _st()
        t = gdb.selected_thread()
        if t is None:
            raise gdb.GdbError("no thread selected")
        return _ptr(st, "M", _m_of_selected(st))


class PFunc(gdb.Function):
    """$p(): the P held by the selected thread's M (null when none)."""

    def __init__(self):
        super().__init__("p")

    def invoke(self, *args):
        _no_args("p", args)
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
    for event in ("stop", "cont", "exited", "memory_changed", "new_objfile", "inferior_call"):
        registry = getattr(gdb.events, event, None)
        if registry is not None:
            registry.connect(_new_generation)
    GFunc()
    GoidFunc()
    MFunc()
    PFunc()
