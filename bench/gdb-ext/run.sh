#!/usr/bin/env bash
# Benchmark of the gdb extension: `info goroutines` on `parked N`
# for N = 1,000 / 10,000 / 100,000 and `goroutine all bt` on 10,000; then,
# when Go is installed, on a Go program with N parked goroutines
# (tests/src/go/parked.go, the Go twin of parked that the tests use), the
# same `info goroutines` with gdbx's extension, with Go 1.19's
# runtime-gdb.py, and Delve's `goroutines` (delve_goroutines.py, when dlv is
# installed).
#
#   bench/run gdb-ext                    # or directly:
#   bash bench/gdb-ext/run.sh
#   NS="1000 10000" bash bench/gdb-ext/run.sh
#
# Delve runs only up to DELVE_MAX goroutines (default 10,000: at 100,000 its
# `goroutines` did not finish in 4 minutes).
#
# Prints one `TIME <command> | <seconds> | <lines>` line per measurement (best
# of 3 runs inside one gdb; output captured with to_string, not printed).
# gdbx's own measurements run in SESSIONS gdb sessions (default 3), each
# with a fresh program: the time of a session varies with where the
# program's memory lands (by ±5% on the 2-core machine), so each command
# also gets a `MEDIAN <command> | <seconds> over N sessions` line.
set -euo pipefail
cd "$(dirname "$0")/../.."
WS=$PWD
NS=${NS:-"1000 10000 100000"}
DELVE_MAX=${DELVE_MAX:-10000}
SESSIONS=${SESSIONS:-3}
GO=${GO:-/usr/lib/go-1.19/bin/go}
OUT=${OUT:-$WS/target/gdbext-bench}
mkdir -p "$OUT"

cargo build -q --release -p gdb-ext
cargo build -q -p examples --bin parked
export GDBX_EXT_PATH=$WS/target/release/libgdbx_ext.so

# sessions CMD...: runs the gdb command line CMD SESSIONS times, prints its
# TIME lines and, per command, the median of the sessions' best times.
sessions() {
  local all=""
  for _ in $(seq "$SESSIONS"); do
    all+=$("$@" 2>&1 | grep -E '^(TIME|gdbx:|Python|Error|Traceback|gdb\.)')$'\n'
  done
  printf '%s' "$all"
  printf '%s' "$all" | awk -F' [|] ' '/^TIME [^ ]/ {
      cmd = substr($1, 6); split($2, w, " "); t[cmd] = t[cmd] " " w[1]; n[cmd]++
    }
    END {
      for (c in t) {
        k = split(substr(t[c], 2), v, " ")
        for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
        printf "MEDIAN %s | %s s over %d sessions (%s .. %s)\n", c, v[int((k + 1) / 2)], k, v[1], v[k]
      }
    }'
}

for n in $NS; do
  echo "== gdbx: parked $n"
  extra=()
  case $n in 1000|10000) extra=(-ex 'python timed("goroutine all bt", 1)');; esac
  sessions gdb -batch -nx -iex "add-auto-load-safe-path $WS/target/debug" \
      -iex "set pagination off" target/debug/parked \
      -ex 'break main.ready' -ex "run $n" -ex "source $WS/bench/gdb-ext/timeit.py" \
      -ex 'python timed("info goroutines")' \
      -ex 'python timed("info goroutines -group")' "${extra[@]}"
done

if [ -x "$GO" ]; then
  src=$OUT/go-parked
  mkdir -p "$src"
  cp tests/src/go/parked.go "$src/main.go"
  [ -f "$src/go.mod" ] || printf 'module parked\n\ngo 1.19\n' > "$src/go.mod"
  (cd "$src" && GOCACHE=${GOCACHE:-$OUT/gocache} "$GO" build -gcflags "-N -l" -o "$OUT/parked-go" .)
  goroot=$("$GO" env GOROOT)
  for n in $NS; do
    echo "== gdbx: parked-go $n"
    sessions gdb -batch -nx -iex "source $WS/python/gdbx-gdb.py" \
        -iex "set pagination off" "$OUT/parked-go" \
        -ex 'break main.ready' -ex "run $n" -ex "source $WS/bench/gdb-ext/timeit.py" \
        -ex 'python timed("info goroutines")' \
        -ex 'python timed("info goroutines -group")'
    if command -v dlv >/dev/null && [ "$n" -le "$DELVE_MAX" ]; then
      echo "== Delve: parked-go $n"
      python3 "$WS/bench/gdb-ext/delve_goroutines.py" "$OUT/parked-go" "$n"
    fi
    echo "== Go runtime-gdb.py: parked-go $n"
    extra=()
    # runtime-gdb.py's `goroutine all bt` takes ~75 s for 1,000 goroutines: only there.
    if [ "$n" = 1000 ]; then extra=(-ex 'python timed("goroutine all bt", 1)'); fi
    gdb -batch -nx -iex "add-auto-load-safe-path $goroot/src/runtime/runtime-gdb.py" \
        -iex "set pagination off" "$OUT/parked-go" \
        -ex 'break main.ready' -ex "run $n" -ex "source $WS/bench/gdb-ext/timeit.py" \
        -ex 'python timed("info goroutines", 1)' "${extra[@]}" 2>&1 | grep -E '^(TIME|Loading Go|Python|Error|Traceback)'
  done
fi
