"""gdbx's gdb support for Go 1.19 programs and programs on the gdbx runtime.

The one line a plain-gdb user adds to ~/.gdbinit (or passes as -iex):

    source /path/to/gdbx/python/gdbx-gdb.py

`gdbx gdb` passes exactly that. From then on every such program gdb opens
(`gdb PROG`, `file PROG`, `gdb PROG CORE`, `attach`) gets the extension:
`info goroutines`, `goroutine`, the pretty printers, `$g()` and the rest.
Other programs are left alone, without a word.
"""

import os
import sys

# gdb sets __file__ while it sources a Python file.
_here = os.path.dirname(os.path.abspath(__file__))
if _here not in sys.path:
    sys.path.insert(0, _here)

import gdbx  # noqa: E402  (after the path is set)

gdbx.autoload()
