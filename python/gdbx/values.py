"""Go values as Go's runtime-gdb.py prints them: strings, slices, maps,
channels, interfaces; ``$len()``, ``$cap()``, ``$dtype()`` and ``iface``.

Everything is read through gdb's own values and the types of the binary's
DWARF; the Go runtime's constants (``runtime.minTopHash``, ...) are read from
the binary too, with Go 1.19's values as the fallback. Where runtime-gdb.py
is wrong for Go 1.19 this follows the runtime instead:

- maps: an entry is live when its tophash is at least ``minTopHash``
  (runtime-gdb.py also shows deleted entries), a key or value is stored
  indirectly when the bucket holds ``*K`` for ``map[K]V`` (runtime-gdb.py
  reads that from ``hmap.flags``, which hold iterator bits), and a growing
  map is walked as ``mapiter`` does: old buckets not yet evacuated, then the
  new buckets whose old bucket was;
- interfaces: the dynamic type's name is resolved from its ``nameOff``
  in the module's type data (``runtime._type`` has no ``string`` field
  since Go 1.7), and the data word is the value itself only for
  pointer-shaped types (``kindDirectIface``), as in the runtime.
"""

import re

import gdb

_MAP_RE = re.compile(r"^map\[")
_CHAN_RE = re.compile(r"^(chan |chan<- |<-chan )")
_SLICE_RE = re.compile(r"^\[\]")


def _const(name, default):
    try:
        return int(gdb.parse_and_eval("'%s'" % name))
    except gdb.error:
        return default


class _Consts:
    """The runtime constants these printers use, read once per program."""

    def __init__(self):
        self.min_top_hash = _const("runtime.minTopHash", 5)
        self.evacuated_x = _const("runtime.evacuatedX", 2)
        self.evacuated_empty = _const("runtime.evacuatedEmpty", 4)
        self.bucket_cnt = _const("runtime.bucketCnt", 8)
        self.same_size_grow = _const("runtime.sameSizeGrow", 8)
        self.kind_direct_iface = _const("runtime.kindDirectIface", 1 << 5)
        self.tflag_extra_star = _const("runtime.tflagExtraStar", 1 << 1)


_CONSTS = {}


def _consts():
    key = gdb.current_progspace().filename
    c = _CONSTS.get(key)
    if c is None:
        c = _CONSTS[key] = _Consts()
    return c


def _type_name(val):
    return str(val.type.strip_typedefs()) if val.type.name is None else str(val.type)


def _split_params(text):
    """`K,V` of `hash<K,V>` split at the top-level comma."""
    depth = 0
    for i, ch in enumerate(text):
        if ch in "[(<{":
            depth += 1
        elif ch in "])>}":
            depth -= 1
        elif ch == "," and depth == 0:
            return text[:i], text[i + 1 :]
    return text, ""


class StringPrinter:
    """A Go string: its bytes as text. One that cannot be read (a field
    optimised out, memory that is not there) prints as gdb prints such a
    value, `<error reading variable: ...>`, and without the `string` hint
    (read first: gdb asks for the hint before the text), under which gdb
    would quote the error as if the program held it."""

    def __init__(self, val):
        self.val = val
        self._text = None

    def _read(self):
        if self._text is None:
            try:
                n = int(self.val["len"])
                self._text = (True, self.val["str"].string("utf-8", "replace", n) if n else "")
            except gdb.error as e:
                self._text = (False, "<error reading variable: %s>" % e)
        return self._text

    def display_hint(self):
        return "string" if self._read()[0] else None

    def to_string(self):
        return self._read()[1]


class SlicePrinter:
    """`[]T = {a, b, c}` (len elements)."""

    def __init__(self, val):
        self.val = val

    def display_hint(self):
        return "array"

    def to_string(self):
        return _type_name(self.val)

    def children(self):
        n = int(self.val["len"])
        if n > int(self.val["cap"]) or n < 0:
            return
        ptr = self.val["array"]
        for i in range(n):
            yield "[%d]" % i, (ptr + i).dereference()


class _ReferencePrinter:
    """A Go value that is a pointer underneath (map, chan): its type name,
    with ` nil` when the pointer is."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        if int(self.val) == 0:
            return "%s nil" % _type_name(self.val)
        return _type_name(self.val)


class MapPrinter(_ReferencePrinter):
    """`map[K]V = {[k] = v, ...}` from the hmap's buckets."""

    def display_hint(self):
        return "map"

    def children(self):
        if int(self.val) == 0:
            return
        c = _consts()
        h = self.val.dereference()
        b = int(h["B"])
        buckets = h["buckets"]
        old = h["oldbuckets"]
        bucket_t = buckets.type.target().strip_typedefs()
        key_name, val_name = _split_params(str(bucket_t.name or "")[len("bucket<") : -1])
        keys_t = bucket_t["keys"].type.strip_typedefs().target()
        vals_t = bucket_t["values"].type.strip_typedefs().target()
        ind_key = keys_t.code == gdb.TYPE_CODE_PTR and str(keys_t) == "*" + key_name
        ind_val = vals_t.code == gdb.TYPE_CODE_PTR and str(vals_t) == "*" + val_name

        def entries(bp):
            while int(bp) != 0:
                bk = bp.dereference()
                for i in range(c.bucket_cnt):
                    if int(bk["tophash"][i]) < c.min_top_hash:
                        continue
                    k, v = bk["keys"][i], bk["values"][i]
                    yield (k.dereference() if ind_key else k), (v.dereference() if ind_val else v)
                bp = bk["overflow"]

        def evacuated(bp):
            top = int(bp.dereference()["tophash"][0])
            return c.evacuated_x - 1 < top <= c.evacuated_empty

        order = []
        if int(old) != 0:
            old_b = b if int(h["flags"]) & c.same_size_grow else b - 1
            for j in range(1 << old_b):
                if not evacuated(old + j):
                    order.append(old + j)
            mask = (1 << old_b) - 1
            order.extend(buckets + i for i in range(1 << b) if evacuated(old + (i & mask)))
        else:
            order.extend(buckets + i for i in range(1 << b))
        n = 0
        for bp in order:
            for k, v in entries(bp):
                yield "[%d]" % n, k
                yield "[%d]" % (n + 1), v
                n += 2


def _chan_elem_ptr(hchan):
    """`*T` of a `chan T`: the type of `sudog<T>.elem` (recvq.first.elem)."""
    sudog = hchan.type.strip_typedefs()["recvq"].type.strip_typedefs()["first"].type.target()
    return sudog.strip_typedefs()["elem"].type


class ChanPrinter(_ReferencePrinter):
    """`chan T = {v0, v1}`: the values in the channel's buffer, oldest first."""

    def display_hint(self):
        return "array"

    def children(self):
        if int(self.val) == 0:
            return
        ch = self.val.dereference()
        size = int(ch["dataqsiz"])
        count = int(ch["qcount"])
        if size == 0 or count > size:
            return
        elem = _chan_elem_ptr(ch)
        if elem.target().sizeof == 0:
            return
        buf = ch["buf"].cast(elem)
        first = int(ch["recvx"])
        for i in range(count):
            yield "[%d]" % i, (buf + (first + i) % size).dereference()


def _is_iface(val):
    """`iface` (tab, data) or `eface` (_type, data), by the runtime's type names."""
    t = val.type.strip_typedefs()
    if t.code != gdb.TYPE_CODE_STRUCT:
        return None
    names = [f.name for f in t.fields()]
    if names == ["tab", "data"] and str(t["tab"].type.target().strip_typedefs()) == "runtime.itab":
        return "iface"
    if names == ["_type", "data"] and str(t["_type"].type.target().strip_typedefs()) == "runtime._type":
        return "eface"
    return None


def _rtype(val):
    """The dynamic `*runtime._type` of an interface value (0 when nil)."""
    kind = _is_iface(val)
    if kind == "iface":
        tab = val["tab"]
        return tab.dereference()["_type"] if int(tab) != 0 else tab
    if kind == "eface":
        return val["_type"]
    return None


def _name_at(addr):
    """A runtime name (`runtime.name`): flags byte, varint length, bytes."""
    inf = gdb.selected_inferior()
    head = inf.read_memory(addr + 1, 10).tobytes()
    n, shift, i = 0, 0, 0
    while True:
        byte = head[i]
        n |= (byte & 0x7F) << shift
        i += 1
        if byte < 0x80:
            break
        shift += 7
    return inf.read_memory(addr + 1 + i, n).tobytes().decode("utf-8", "replace")


def dynamic_type_name(rtype):
    """The Go name of a `*runtime._type` (`main.T`, `*main.T`, `int`), from
    its nameOff in the type data of the module holding it."""
    t = rtype.dereference()
    addr = int(rtype)
    md = gdb.parse_and_eval("&'runtime.firstmoduledata'")
    while int(md) != 0:
        m = md.dereference()
        if int(m["types"]) <= addr < int(m["etypes"]):
            name = _name_at(int(m["types"]) + int(t["str"]))
            if int(t["tflag"]) & _consts().tflag_extra_star:
                name = name[1:]
            return name
        md = m["next"]
    raise gdb.GdbError("gdbx: type descriptor %#x is in no module's type data" % addr)


def _gdb_type(name):
    for candidate in (name, "struct " + name):
        try:
            return gdb.lookup_type(candidate)
        except gdb.error:
            pass
    if name.startswith("*"):
        inner = _gdb_type(name[1:])
        return inner.pointer() if inner is not None else None
    return None


def dynamic_value(val):
    """An interface's value as its dynamic type, or None when nil; raises
    gdb.GdbError when the type is not in the binary's DWARF."""
    rtype = _rtype(val)
    if rtype is None or int(rtype) == 0:
        return None
    name = dynamic_type_name(rtype)
    t = _gdb_type(name)
    if t is None:
        raise gdb.GdbError("gdbx: the dynamic type %s is not in the binary's debug info" % name)
    data = val["data"]
    if int(rtype.dereference()["kind"]) & _consts().kind_direct_iface:
        return data.cast(t)  # pointer-shaped: the data word is the value
    return data.cast(t.pointer()).dereference()


class InterfacePrinter:
    """An interface value as its dynamic value (`nil` when nil)."""

    def __init__(self, val):
        self.val = val

    def to_string(self):
        try:
            v = dynamic_value(self.val)
        except (gdb.error, gdb.GdbError) as e:
            return "<%s>" % str(e).replace("gdbx: ", "")
        if v is None:
            return "nil"
        if v.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
            # gdb prints a pointer handed back by a printer as nothing:
            # the dynamic type, the address and what it points to, as text.
            text = "(%s) %#x" % (dynamic_type_name(_rtype(self.val)), int(v))
            if int(v) != 0 and v.type.strip_typedefs().target().sizeof > 0:
                try:
                    text += " -> %s" % v.dereference()
                except gdb.error as e:
                    text += " -> <%s>" % e
            return text
        return v


def _go_names(t):
    """The Go names of a value's type: those of its typedef chain, outermost
    first (`main.C`, then `chan int`), and the name of the type it ends at
    (`string`, `[]int`). A pointer to a Go value has none of them: Go's DWARF
    names `chan int` a typedef of `*hchan<int>`, so `&ch` is `chan int *`, a
    pointer like any other, whose printing is gdb's own."""
    names = []
    while t.code == gdb.TYPE_CODE_TYPEDEF:
        if t.name:
            names.append(str(t.name))
        t = t.target()
    if t.name:
        names.append(str(t.name))
    return names


def _matches(val, pattern):
    return any(pattern.match(n) for n in _go_names(val.type))


def lookup(val):
    """The printer for a Go value, or None."""
    t = val.type.strip_typedefs()
    try:
        if t.code == gdb.TYPE_CODE_STRUCT:
            names = _go_names(val.type)
            if "string" in names:
                return StringPrinter(val)
            if any(_SLICE_RE.match(n) for n in names):
                # Optimised code may keep only some fields: gdb shows which.
                if val["len"].is_optimized_out or val["cap"].is_optimized_out:
                    return None
                return SlicePrinter(val)
            if _is_iface(val):
                return InterfacePrinter(val)
        elif t.code == gdb.TYPE_CODE_PTR:
            if _matches(val, _MAP_RE):
                return MapPrinter(val)
            if _matches(val, _CHAN_RE):
                return ChanPrinter(val)
    except gdb.error:
        return None
    return None


def _go_value(obj):
    names = _go_names(obj.type)
    t = obj.type.strip_typedefs()

    def named(pattern):
        return any(pattern.match(n) for n in names)

    if t.code == gdb.TYPE_CODE_STRUCT and "string" in names:
        return "string"
    if t.code == gdb.TYPE_CODE_STRUCT and named(_SLICE_RE):
        return "slice"
    if t.code == gdb.TYPE_CODE_PTR and named(_MAP_RE):
        return "map"
    if t.code == gdb.TYPE_CODE_PTR and named(_CHAN_RE):
        return "chan"
    if t.code == gdb.TYPE_CODE_ARRAY:
        return "array"
    if t.code == gdb.TYPE_CODE_PTR and t.target().strip_typedefs().code == gdb.TYPE_CODE_ARRAY:
        return "array pointer"
    return None


def _array_len(obj):
    """Go's len of an array `[N]T` (or of a pointer to one): N. A string
    literal typed in the expression (`$len("abc")`: gdb makes it an array
    of chars that ends in a NUL and is in no memory) has the length Go gives
    "abc", without that NUL."""
    t = obj.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        t = t.target().strip_typedefs()
    lo, hi = t.range()
    n = hi - lo + 1
    elem = t.target().strip_typedefs()
    if obj.address is None and n > 0 and elem.code in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_CHAR) and elem.sizeof == 1:
        if int(obj[hi]) == 0:
            n -= 1
    return gdb.Value(n)


def _one_arg(name, usage, args):
    """The one argument of `$name(v)`, or the gdb error naming its usage."""
    if len(args) != 1:
        raise gdb.GdbError("$%s takes one argument (%d given): %s" % (name, len(args), usage))
    return args[0]


_LEN_USAGE = "$len(v), v a Go string, slice, array, map or channel"
_CAP_USAGE = "$cap(v), v a Go slice, array or channel"
_DTYPE_USAGE = "$dtype(v), v an interface value"


class LenFunc(gdb.Function):
    """$len(v): the length of a Go string, slice, array, map or channel (as
Go's len); of a string literal, its length without the NUL gdb adds."""

    def __init__(self):
        super().__init__("len")

    def invoke(self, *args):
        obj = _one_arg("len", _LEN_USAGE, args)
        kind = _go_value(obj)
        if kind in ("string", "slice"):
            return obj["len"]
        if kind in ("map", "chan"):
            if int(obj) == 0:
                return gdb.Value(0)
            return obj.dereference()["count" if kind == "map" else "qcount"]
        if kind in ("array", "array pointer"):
            return _array_len(obj)
        raise gdb.GdbError("$len: %s is not a Go string, slice, array, map or channel" % obj.type)


class CapFunc(gdb.Function):
    """$cap(v): the capacity of a Go slice, array or channel (as Go's cap)."""

    def __init__(self):
        super().__init__("cap")

    def invoke(self, *args):
        obj = _one_arg("cap", _CAP_USAGE, args)
        kind = _go_value(obj)
        if kind == "slice":
            return obj["cap"]
        if kind == "chan":
            return gdb.Value(0) if int(obj) == 0 else obj.dereference()["dataqsiz"]
        if kind == "array pointer" or (kind == "array" and obj.address is not None):
            return _array_len(obj)  # a literal ("abc") has no capacity
        raise gdb.GdbError("$cap: %s is not a Go slice, array or channel" % obj.type)


class DTypeFunc(gdb.Function):
    """$dtype(v): an interface value as its dynamic type (other values as they are)."""

    def __init__(self):
        super().__init__("dtype")

    def invoke(self, *args):
        obj = _one_arg("dtype", _DTYPE_USAGE, args)
        if not _is_iface(obj):
            return obj
        v = dynamic_value(obj)
        if v is None:
            raise gdb.GdbError("$dtype: the interface is nil")
        return v


class IfaceCmd(gdb.Command):
    """Print the static and dynamic type of interface values.

Usage: iface EXPR...     e.g. iface err, prints `error: *main.MyError`"""

    def __init__(self):
        super().__init__("iface", gdb.COMMAND_DATA, gdb.COMPLETE_SYMBOL)

    def invoke(self, arg, from_tty):
        exprs = gdb.string_to_argv(arg)
        if not exprs:
            raise gdb.GdbError("usage: iface EXPR...")
        for expr in exprs:
            try:
                obj = gdb.parse_and_eval(expr)
            except gdb.error as e:
                gdb.write("iface: %s: %s\n" % (expr, e))
                continue
            if not _is_iface(obj):
                gdb.write("iface: %s is not an interface (%s)\n" % (expr, obj.type))
                continue
            rtype = _rtype(obj)
            dyn = "nil" if int(rtype) == 0 else dynamic_type_name(rtype)
            gdb.write("%s: %s\n" % (obj.type, dyn))


_REGISTERED = []


def _functions():
    LenFunc()
    CapFunc()
    DTypeFunc()
    IfaceCmd()


def reregister():
    """Ours again in place of runtime-gdb.py's (which loaded after them):
    the functions and command, and the printers first on the Go objfiles."""
    _functions()
    go_printers = ("matcher", "ifacematcher")  # runtime-gdb.py's names
    for objfile in gdb.objfiles():
        printers = objfile.pretty_printers
        if any(getattr(p, "__name__", "") in go_printers for p in printers):
            printers[:] = [lookup] + [
                p for p in printers if p is not lookup and getattr(p, "__name__", "") not in go_printers
            ]


def register(st, objfile):
    """The Go value printers go on the objfile of a Go program, ahead of any
    others there (runtime-gdb.py's included); the functions and the command
    once per session."""
    if st.prog.flavour() == "go":
        objfile.pretty_printers.insert(0, lookup)
    if _REGISTERED:
        return
    _REGISTERED.append(True)
    _functions()
