// stuck [N] [nospin]: a program that stays still for a goroutine dump to look at,
// the twin of examples/src/bin/stuck.rs. N goroutines (default 100) block
// receiving from one channel, one sleeps for an hour, one waits for a
// mutex, one spins on its CPU (not with "nospin": benchmarks). Once every one of them is where it should
// be (their statuses in runtime.Stack's dump: a handshake, no sleeping),
// main prints that dump to stderr between "BEGIN STACK" and "END STACK"
// lines, calls main.ready (where a debugger stops), prints "ready" and
// blocks reading its stdin; at end of input it exits 0.
package main

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

//go:noinline
func ready(n int) {
	println("ready", n)
}

//go:noinline
func worker(c chan int) {
	<-c
}

//go:noinline
func sleeper() {
	time.Sleep(time.Hour)
}

//go:noinline
func locker(mu *sync.Mutex) {
	mu.Lock()
}

var spinning int32

//go:noinline
func spinner() {
	atomic.StoreInt32(&spinning, 1)
	x := 0
	for {
		x++
	}
}

func main() {
	n := 100
	if len(os.Args) > 1 {
		var err error
		if n, err = strconv.Atoi(os.Args[1]); err != nil {
			println("usage: stuck [N] [nospin]")
			os.Exit(2)
		}
	}
	c := make(chan int)
	for i := 0; i < n; i++ {
		go worker(c)
	}
	go sleeper()
	var mu sync.Mutex
	mu.Lock()
	go locker(&mu)
	spin := len(os.Args) < 3 || os.Args[2] != "nospin"
	if spin {
		go spinner()
	} else {
		atomic.StoreInt32(&spinning, 1)
	}
	buf := make([]byte, 1024*(n+64))
	var dump string
	for {
		dump = string(buf[:runtime.Stack(buf, true)])
		if strings.Count(dump, "[chan receive]:") >= n && strings.Count(dump, "[sleep]:") >= 1 &&
			strings.Count(dump, "[semacquire]:") >= 1 && atomic.LoadInt32(&spinning) == 1 {
			break
		}
		runtime.Gosched()
	}
	os.Stderr.WriteString("BEGIN STACK\n" + dump + "\nEND STACK\n")
	ready(n)
	os.Stdout.WriteString("ready\n")
	bufio.NewReader(os.Stdin).ReadString(0)
}
