// parked [N]: the Go twin of examples/src/bin/parked.rs. N goroutines
// (default 1000) block receiving on one channel; main waits until every one
// of them is parked there (a handshake: the goroutines' own statuses in
// runtime.Stack's dump, no sleeping), runs two garbage collections, then
// calls main.ready, a function a debugger stops in. Then it closes the
// channel, waits for all of them and prints "released N".
package main

import (
	"os"
	"runtime"
	"strconv"
	"sync"
)

// ready is where a debugger stops: all N goroutines are parked.
//
//go:noinline
func ready(n int) {
	println("ready", n)
}

//go:noinline
func worker(c chan int, wg *sync.WaitGroup) {
	<-c
	wg.Done()
}

func main() {
	n := 1000
	if len(os.Args) > 1 {
		var err error
		if n, err = strconv.Atoi(os.Args[1]); err != nil {
			println("usage: parked [N]")
			os.Exit(2)
		}
	}
	c := make(chan int)
	var started, done sync.WaitGroup
	started.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			worker(c, &done)
		}()
	}
	started.Wait()
	// Every goroutine has started; wait until each is blocked in the
	// receive (its status is "chan receive" in runtime.Stack's dump).
	for blocked(n) < n {
		runtime.Gosched()
	}
	// A collection that finds a goroutine blocked sets its G.waitsince to
	// the time the previous one ended (work.tstart, 0 before the first):
	// after two, debuggers can say how long each goroutine has waited.
	runtime.GC()
	runtime.GC()
	ready(n)
	close(c)
	done.Wait()
	println("released", n)
}

// blocked counts the goroutines parked in main.worker's receive.
func blocked(n int) int {
	buf := make([]byte, 1024*(n+16))
	s := string(buf[:runtime.Stack(buf, true)])
	count := 0
	for i := 0; i+len("[chan receive]:") <= len(s); i++ {
		if s[i:i+len("[chan receive]:")] == "[chan receive]:" {
			count++
		}
	}
	return count
}
