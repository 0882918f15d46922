"""gdb support for programs built on the gdbx runtime.

The counterpart of Go's runtime-gdb.py. This package is thin: it adapts gdb
(threads, registers, commands, printers, the unwinder) and hands the heavy
work to the native module ``gdbx_ext`` (gdb-ext/, PyO3), which reads the
runtime's struct layouts from DWARF, reads memory in bulk and formats.

Loaded by the ``.debug_gdb_scripts`` entry every program on the runtime
carries (runtime/src/gdbscript.rs) once gdb trusts the binary's folder
(``-iex "add-auto-load-safe-path DIR"``), or by hand::

    (gdb) python import sys; sys.path.insert(0, "<workspace>/python")
    (gdb) python import gdbx; gdbx.load()

What it adds: ``info goroutines``, ``goroutine <id>|all [cmd]``, ``info ms``,
``info ps``, ``info sched``, pretty printers for G/M/P/Sched, ``$g()``,
``$goid()``, ``$m()``, ``$p()``, ``M<id> g<goid>`` thread names, and Go names
for the runtime's functions in ``bt``.
"""

import os
import re

import gdb

from . import native

_STATE = {}


class State:
    """Per-binary state: the native Program and the target it reads."""

    def __init__(self, mod, prog, objfile):
        self.mod = mod
        self.prog = prog
        self.objfile = objfile
        self.mtime = _mtime(objfile)
        self.target_key = None
        self.names = None

    # -- memory and target -------------------------------------------------

    def sync_target(self):
        """Points the native reader at /proc/PID/mem or the core file."""
        inf = gdb.selected_inferior()
        conn = getattr(inf, "connection", None)
        kind = conn.type if conn is not None else None
        key = (kind, inf.pid, getattr(conn, "num", None))
        if key == self.target_key:
            return
        self.target_key = key
        if kind == "native" and inf.pid:
            self.prog.attach("proc", inf.pid)
        elif kind == "core":
            self.prog.attach("core", core_path())
        else:
            self.prog.attach("gdb", None)
        self.prog.set_bias(load_bias(self.prog), self.reader())

    def reader(self):
        inf = gdb.selected_inferior()

        def read(addr, n):
            return inf.read_memory(addr, n).tobytes()

        return read

    # -- threads -----------------------------------------------------------

    def threads(self, pcs=True, max_frames=16):
        """[(num, lwp, fs_base, [pc...])] for every thread of the inferior;
        pcs (gdb's unwinding, innermost first) only for the threads running a
        goroutine. The selected thread and frame are restored."""
        inf = gdb.selected_inferior()
        out = []
        try:
            cur_thread = gdb.selected_thread()
        except gdb.error:
            cur_thread = None
        if cur_thread is None:
            return out
        try:
            cur_level = gdb.selected_frame().level()
        except gdb.error:
            cur_level = None
        from . import unwind

        unwind._SUSPENDED[0] += 1
        gdb.invalidate_cached_frames()
        try:
            live = [t for t in inf.threads() if t.is_valid() and not t.is_exited()]
            for t in live:
                try:
                    t.switch()
                    fs = int(gdb.newest_frame().read_register("fs_base"))
                except gdb.error:
                    fs = 0
                out.append((t.num, t.ptid[1] or t.ptid[2], fs, []))
            if pcs:
                want = set(self.prog.user_threads(self.reader(), out))
                for t, row in zip(live, out):
                    if t.num not in want:
                        continue
                    frames = row[3]
                    try:
                        t.switch()
                        f = gdb.newest_frame()
                        while f is not None and len(frames) < max_frames:
                            frames.append(int(f.pc()))
                            f = f.older()
                    except gdb.error:
                        pass
        finally:
            unwind._SUSPENDED[0] -= 1
            gdb.invalidate_cached_frames()
            cur_thread.switch()
            if cur_level is not None:
                select_level(cur_level)
        return out

    def refresh_thread_names(self):
        """Names every thread ``M<id> g<goid>`` (shown by ``info threads``)."""
        try:
            self.sync_target()
            threads = self.threads(pcs=False)
            if not threads:
                return
            names = dict(self.prog.thread_names(self.reader(), threads))
            for t in gdb.selected_inferior().threads():
                if t.num in names:
                    t.name = names[t.num]
        except (gdb.error, RuntimeError, ValueError):
            pass


def select_level(level):
    f = gdb.newest_frame()
    while f is not None and f.level() < level:
        f = f.older()
    if f is not None:
        f.select()


_ENTRY_RE = re.compile(r"^\d+\s+AT_ENTRY\s.*?(0x[0-9a-fA-F]+)\s*$", re.M)


def load_bias(prog):
    """A PIE's load bias: the run-time entry point (AT_ENTRY, live or from
    the core) minus the ELF's. 0 for the non-PIE programs of examples/."""
    try:
        text = gdb.execute("info auxv", to_string=True)
    except gdb.error:
        return 0
    m = _ENTRY_RE.search(text)
    if not m:
        return 0
    return (int(m.group(1), 16) - prog.entry()) & 0xFFFFFFFFFFFFFFFF


_CORE_RE = re.compile(r"Local core dump file:\s*`(.*)', file type")


def core_path():
    try:
        text = gdb.execute("info target", to_string=True)
    except gdb.error:
        return None
    m = _CORE_RE.search(text)
    return m.group(1) if m else None


# Set by gdb's new_objfile event: the binary may have been rebuilt.
_CHANGED = []


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def state():
    """The State of the program being debugged, or None. When the binary
    was rebuilt (gdb re-reads its symbols), its layouts are read again."""
    prog = gdb.current_progspace()
    st = _STATE.get(prog.filename)
    if st is None and len(_STATE) == 1:
        st = next(iter(_STATE.values()))
    if st is not None and _CHANGED and _CHANGED.pop() and _mtime(st.objfile) != st.mtime:
        try:
            st.prog = st.mod.Program(st.objfile, native.WORKSPACE)
            st.mtime = _mtime(st.objfile)
            st.target_key = None
        except Exception as e:
            print("gdbx: %s: %s" % (st.objfile, e))
    return st


def _describe_load(st, path):
    sizes = ", ".join("%s %d B" % (k, v) for k, v in st.prog.sizes())
    line = "gdbx: loaded runtime support for %s (%s; native module %s)" % (
        st.objfile,
        sizes,
        path,
    )
    missing = st.prog.missing()
    if missing:
        line += "; MISSING from the binary: " + ", ".join(missing)
    return line


def load(objfile=None):
    """Sets everything up for `objfile` (default: the main program). Prints
    one line saying what was loaded, or how to build what is missing."""
    if objfile is None:
        objfile = gdb.current_objfile() or (gdb.objfiles()[0] if gdb.objfiles() else None)
    if objfile is None:
        print("gdbx: no program loaded; use `file PROGRAM` first")
        return None
    filename = objfile.filename
    if filename in _STATE:
        return _STATE[filename]
    try:
        mod, path = native.load()
    except ImportError as e:
        print("gdbx: %s" % e)
        return None
    except Exception as e:  # a stale or broken .so
        print("gdbx: cannot load the native module (%s); rebuild it with `%s`" % (e, native.BUILD_HINT))
        return None
    try:
        prog = mod.Program(filename, native.WORKSPACE)
    except Exception as e:
        print("gdbx: %s: %s" % (filename, e))
        return None
    st = State(mod, prog, filename)
    _STATE[filename] = st
    from . import commands, printers, unwind

    # A goroutine's stack continues below main.main (runtime.main,
    # runtime.goexit): let backtraces go past it.
    gdb.execute("set backtrace past-main on", to_string=True)
    commands.register()
    printers.register(objfile)
    unwind.register()
    _install_hooks()
    print(_describe_load(st, path))
    return st


_HOOKS = []


def _install_hooks():
    if _HOOKS:
        return
    _HOOKS.append(True)

    def on_stop(_ev):
        st = state()
        if st is not None:
            st.target_key = None
            st.refresh_thread_names()

    def on_exit(_ev):
        st = state()
        if st is not None:
            st.target_key = None

    def on_new_objfile(_ev):
        _CHANGED[:] = [True]

    gdb.events.stop.connect(on_stop)
    gdb.events.new_objfile.connect(on_new_objfile)
    gdb.events.exited.connect(on_exit)
    # `info threads` shows the names: refresh them first (this also covers
    # core files, which never report a stop).
    gdb.execute("define info hook-threads\npython import gdbx; gdbx._refresh()\nend", to_string=True)


def _refresh():
    st = state()
    if st is not None:
        st.refresh_thread_names()
