// crasher MODE: a Go program that dies under GOTRACEBACK=crash with one
// goroutine spinning on its CPU (main.spinner). MODE "panic": main panics
// (main.boom), the runtime aborts on main's thread. MODE "quit": main sends
// the process SIGQUIT, and every thread is in Go's signal handler when the
// core is written (the spinner's too, on its gsignal stack).
package main

import (
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
)

var spinning int32

//go:noinline
func spinner() {
	atomic.StoreInt32(&spinning, 1)
	x := 0
	for {
		x++
	}
}

//go:noinline
func boom() {
	panic("boom")
}

func main() {
	go spinner()
	for atomic.LoadInt32(&spinning) == 0 {
		runtime.Gosched()
	}
	if len(os.Args) > 1 && os.Args[1] == "quit" {
		syscall.Kill(os.Getpid(), syscall.SIGQUIT)
		select {}
	}
	boom()
}
