#!/usr/bin/env bash
# Benchmark of `gdbx goroutines`: every goroutine with its stack, of a live
# process and of a core, for `stuck N nospin` (examples/src/bin/stuck.rs, on
# our runtime) and its Go twin (tests/src/go/stuck.go, a plain `go build`),
# against the peers, in the same run:
#   - Delve 1.20: `goroutines -t` in `dlv attach PID` and in `dlv core`
#     (Go only), timed as the whole session minus the same session without
#     the command;
#   - gdb with the gdbx extension: `goroutine all bt` (timed inside gdb).
# Peers run up to PEER_MAX goroutines (default 10,000: Delve needs minutes
# at 100,000). Cores come from the runtimes themselves (GOTRACEBACK=crash,
# then SIGQUIT: the kernel writes a sparse core in the program's directory).
#
#   bash bench/goroutines.sh                   # from anywhere in the workspace
#   NS="1000 10000" PEER_MAX=1000 bash bench/goroutines.sh
#
# Prints one `RESULT <runtime> <N> <what> <seconds>` line per measurement
# (the median of REPEAT runs, default 3, for gdbx), then the pause lines.
set -euo pipefail
cd "$(dirname "$0")/.."
WS=$PWD
NS=${NS:-"1000 10000 100000"}
PEER_MAX=${PEER_MAX:-10000}
REPEAT=${REPEAT:-3}
GO=${GO:-/usr/lib/go-1.19/bin/go}
OUT=${OUT:-$WS/target/goroutines-bench}
mkdir -p "$OUT"

cargo build -q --release -p gdbx -p gdb-ext
cargo build -q --release -p examples --bin stuck
GDBX=$WS/target/release/gdbx
export GDBX_EXT_PATH=$WS/target/release/libgdbx_ext.so
src=$OUT/go-stuck
mkdir -p "$src"
cp tests/src/go/stuck.go "$src/main.go"
[ -f "$src/go.mod" ] || printf 'module stuck\n\ngo 1.19\n' > "$src/go.mod"
(cd "$src" && GOCACHE=${GOCACHE:-$OUT/gocache} "$GO" build -o "$OUT/stuck-go" .)

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l | xargs printf '%.3f'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# start BIN N DIR: runs `BIN N nospin` in DIR with stdin held open; sets PID
# once it printed "ready".
start() {
  local bin=$1 n=$2 dir=$3
  mkdir -p "$dir"
  rm -f "$dir/fifo" "$dir/out" "$dir/core"
  mkfifo "$dir/fifo"
  (cd "$dir" && ulimit -c unlimited && GOTRACEBACK=crash GOMAXPROCS=2 \
     exec "$bin" "$n" nospin < "$dir/fifo" > "$dir/out" 2> /dev/null) &
  PID=$!
  exec 9> "$dir/fifo"
  until grep -q '^ready' "$dir/out" 2>/dev/null; do
    kill -0 $PID 2>/dev/null || { echo "$bin $n died" >&2; exit 1; }
    sleep 0.05
  done
}

# crash: SIGQUIT under GOTRACEBACK=crash; waits for the core.
crash() {
  local dir=$1
  kill -QUIT $PID
  wait $PID 2>/dev/null || true
  exec 9>&-
  [ -f "$dir/core" ] || { echo "no core in $dir" >&2; exit 1; }
}

gdb_all_bt() { # gdb_all_bt BIN PID-or-core LABEL
  local bin=$1 target=$2 load=()
  if ! grep -q 'gdbx-runtime' "$bin"; then
    load=(-ex "python import sys; sys.path.insert(0, '$WS/python'); import gdbx; gdbx.load()")
  fi
  local where=(-p "$target")
  [ -f "$target" ] && where=(-c "$target")
  gdb -batch -nx -iex "add-auto-load-safe-path $(dirname "$bin")" -iex "set pagination off" \
      "$bin" "${where[@]}" "${load[@]}" -ex "source $WS/bench/gdb-ext/timeit.py" \
      -ex 'python timed("goroutine all bt", 1)' 2>&1 | sed -n 's/^TIME .*| \([0-9.]*\) s wall.*/\1/p'
}

dlv_time() { # dlv_time attach PID | core BIN CORE: seconds of `goroutines -t`
  printf 'exit -c\n' > "$OUT/dlv-empty"
  printf 'goroutines -t\nexit -c\n' > "$OUT/dlv-all"
  local t0 t1 t2
  t0=$(now); dlv "$@" --allow-non-terminal-interactive=true --init "$OUT/dlv-empty" < /dev/null > /dev/null 2>&1 || true
  t1=$(now); dlv "$@" --allow-non-terminal-interactive=true --init "$OUT/dlv-all" < /dev/null > "$OUT/dlv.out" 2>&1 || true
  t2=$(now)
  grep -q "goroutines\]" "$OUT/dlv.out" || { echo "delve printed no goroutines" >&2; tail -3 "$OUT/dlv.out" >&2; }
  echo "$(secs $t1 $t2) - $(secs $t0 $t1)" | bc -l | xargs printf '%.3f'
}

for rt in ours go; do
  case $rt in
    ours) bin=$WS/target/release/stuck ;;
    go) bin=$OUT/stuck-go ;;
  esac
  for n in $NS; do
    dir=$OUT/run-$rt-$n
    start "$bin" "$n" "$dir"
    runs=() pauses=()
    for _ in $(seq "$REPEAT"); do
      t0=$(now); "$GDBX" goroutines "$PID" > "$dir/dump.txt"; t1=$(now)
      runs+=("$(secs "$t0" "$t1")")
      pauses+=("$(head -1 "$dir/dump.txt" | sed -n 's/.*paused \([0-9.]*\) ms.*/\1/p')")
    done
    echo "RESULT $rt $n gdbx-live $(printf '%s\n' "${runs[@]}" | median)"
    echo "RESULT $rt $n gdbx-live-pause-ms $(printf '%s\n' "${pauses[@]}" | median)"
    echo "RESULT $rt $n goroutines-printed $(grep -c '^goroutine ' "$dir/dump.txt")"
    if [ "$n" -le "$PEER_MAX" ]; then
      echo "RESULT $rt $n gdb-goroutine-all-bt-live $(gdb_all_bt "$bin" "$PID")"
      if [ $rt = go ]; then
        echo "RESULT $rt $n dlv-attach-goroutines-t $(dlv_time attach "$PID")"
      fi
    fi
    crash "$dir"
    runs=()
    for _ in $(seq "$REPEAT"); do
      t0=$(now); "$GDBX" goroutines "$bin" "$dir/core" > "$dir/dump-core.txt"; t1=$(now)
      runs+=("$(secs "$t0" "$t1")")
    done
    echo "RESULT $rt $n gdbx-core $(printf '%s\n' "${runs[@]}" | median)"
    if [ "$n" -le "$PEER_MAX" ]; then
      echo "RESULT $rt $n gdb-goroutine-all-bt-core $(gdb_all_bt "$bin" "$dir/core")"
      if [ $rt = go ]; then
        echo "RESULT $rt $n dlv-core-goroutines-t $(dlv_time core "$bin" "$dir/core")"
      fi
    fi
    rm -f "$dir/core"
  done
done
