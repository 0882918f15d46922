// The Go twin of examples/src/bin/parked.rs for the gdb benchmark:
// N goroutines parked on a channel receive, then main.ready is called
// (a breakpoint target) and the program waits.
package main

import (
	"os"
	"runtime"
	"strconv"
	"sync"
)

//go:noinline
func ready(n int) {
	println("ready", n)
}

func worker(c chan int) {
	<-c
}

func main() {
	n := 10
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	c := make(chan int)
	done := make(chan int, n)
	var started sync.WaitGroup
	started.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			worker(c)
			done <- 1
		}()
	}
	// Every goroutine has started; yield so that they reach the receive.
	started.Wait()
	for i := 0; i < 100; i++ {
		runtime.Gosched()
	}
	ready(n)
	close(c)
	for i := 0; i < n; i++ {
		<-done
	}
}
