"""rustc's own pretty printers, for programs on the gdbx runtime.

rust-gdb puts ``$(rustc --print sysroot)/lib/rustlib/etc`` on Python's path
and registers ``gdb_lookup``'s printers for the program, so that String,
Vec, HashMap, Option, Rc and the rest print as Rust users expect. This does
the same when the extension loads for one of our programs: the sysroot is
``$RUSTC_SYSROOT`` when set, else what ``rustc --print sysroot`` says.
"""

import os
import subprocess
import sys


def _sysroot():
    env = os.environ.get("RUSTC_SYSROOT")
    if env:
        return env, None
    try:
        out = subprocess.run(
            ["rustc", "--print", "sysroot"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError) as e:
        return None, "cannot run `rustc --print sysroot` (%s)" % e
    return out.stdout.strip(), None


def load_printers(objfile):
    """Registers rustc's printers for `objfile` (once), or returns the one
    line that says why not and what String and Vec then look like."""
    if any(getattr(p, "name", None) == "rust" for p in objfile.pretty_printers):
        return None  # gdb auto-loaded them already (rust-gdb, a trusted script)
    root, why = _sysroot()
    etc = os.path.join(root, "lib", "rustlib", "etc") if root else None
    if etc and not os.path.isfile(os.path.join(etc, "gdb_lookup.py")):
        why = "%s has no gdb_lookup.py" % etc
    if why:
        return (
            "gdbx: rustc's pretty printers not loaded: %s; String and Vec print as raw structs "
            "(set RUSTC_SYSROOT)" % why
        )
    if etc not in sys.path:
        sys.path.append(etc)
    try:
        import gdb_lookup
    except Exception as e:  # a sysroot for another gdb or Python
        return "gdbx: rustc's pretty printers in %s do not load: %s" % (etc, e)
    objfile.pretty_printers.append(_guarded(gdb_lookup.printer))
    return None


def _guarded(printer):
    """rustc's printer, minus its exceptions: gdb asks every objfile's
    printers about every value, and rustc's raise on C types without a name
    (libc's frames in `bt full`) and on values optimised out, which gdb
    would print as a Python error in the middle of the value."""

    def lookup(val):
        try:
            found = printer(val)
        except Exception:
            return None
        return _Guard(found) if found is not None else None

    lookup.name = "rust"
    lookup.enabled = True
    return lookup


class _Guard:
    """One of rustc's printers whose reads may fail (a value optimised out
    in a release build): the failure prints as gdb prints it,
    `<error reading variable: ...>`, and never as the contents of a string.
    gdb asks for the display hint before the text, so the text is read
    first, once: a printer whose text cannot be read has no hint (under the
    `string` hint gdb would quote the error as if the program held it)."""

    def __init__(self, inner):
        self.inner = inner
        self._text = None
        if hasattr(inner, "children"):
            self.children = self._children
        if hasattr(inner, "display_hint"):
            self.display_hint = self._display_hint

    def _read(self):
        if self._text is None:
            try:
                self._text = (True, self.inner.to_string())
            except Exception as e:  # gdb.error, and rustc's own on odd values
                self._text = (False, "<error reading variable: %s>" % e)
        return self._text

    def _display_hint(self):
        ok, _ = self._read()
        return self.inner.display_hint() if ok else None

    def to_string(self):
        return self._read()[1]

    def _children(self):
        if not self._read()[0]:
            return
        try:
            yield from self.inner.children()
        except Exception:
            return
