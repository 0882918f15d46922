"""Delve's side of the gdb-extension benchmark: the time of Delve's
`goroutines` on a Go program stopped at main.ready.

    python3 delve_goroutines.py BINARY N [REPS]

Starts `dlv exec --headless` on `BINARY N`, breaks at main.ready, continues
there, then times the JSON-RPC call behind the terminal's `goroutines`
command (RPCServer.ListGoroutines for all goroutines: Delve reads every G
and works out each one's user location on the server) and prints one line
in the format of timeit.py: `TIME dlv goroutines | S s wall | - | N lines`.
The best of REPS (default 3) calls. Exit status 1 with one line when Delve
fails.
"""

import json
import re
import socket
import subprocess
import sys
import time


class Rpc:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))
        self.buf = b""
        self.next_id = 0
        self.dec = json.JSONDecoder()

    def call(self, method, params):
        self.next_id += 1
        req = {"method": "RPCServer." + method, "params": [params], "id": self.next_id}
        self.sock.sendall(json.dumps(req).encode())
        while True:
            text = self.buf.decode("utf-8", "replace").lstrip()
            try:
                resp, end = self.dec.raw_decode(text)
            except json.JSONDecodeError:
                chunk = self.sock.recv(1 << 20)
                if not chunk:
                    raise RuntimeError("Delve closed the connection during %s" % method) from None
                self.buf += chunk
                continue
            self.buf = text[end:].encode()
            if resp.get("error"):
                raise RuntimeError("%s: %s" % (method, resp["error"]))
            return resp["result"]


def main():
    if len(sys.argv) < 3:
        print("usage: delve_goroutines.py BINARY N [REPS]", file=sys.stderr)
        return 2
    binary, n = sys.argv[1], sys.argv[2]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    dlv = subprocess.Popen(
        ["dlv", "exec", "--headless", "--api-version=2", "--listen=127.0.0.1:0", binary, "--", n],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = dlv.stdout.readline()
        m = re.search(r"listening at: (\S+)", line)
        if not m:
            print("dlv did not start: %s" % line.strip(), file=sys.stderr)
            return 1
        rpc = Rpc(m.group(1))
        rpc.call("CreateBreakpoint", {"Breakpoint": {"FunctionName": "main.ready"}})
        state = rpc.call("Command", {"name": "continue"})["State"]
        if state.get("exited"):
            print("the program exited before main.ready", file=sys.stderr)
            return 1
        best, count = None, 0
        for _ in range(reps):
            t = time.perf_counter()
            res = rpc.call("ListGoroutines", {"Start": 0, "Count": 0})
            d = time.perf_counter() - t
            count = len(res["Goroutines"])
            best = d if best is None else min(best, d)
        print("TIME dlv goroutines | %.3f s wall | - | %d lines" % (best, count))
        try:
            rpc.call("Detach", {"Kill": True})
        except (RuntimeError, OSError):
            pass
        return 0
    except (RuntimeError, OSError) as e:
        print("delve: %s" % e, file=sys.stderr)
        return 1
    finally:
        dlv.kill()
        dlv.wait()


if __name__ == "__main__":
    sys.exit(main())
