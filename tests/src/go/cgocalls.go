// cgocalls: goroutines in cgo calls, for the unwinder, the twin of no
// program of ours. One goroutine sleeps in C (sleep(3), in libc), one spins
// in C, one is in Go again, called back from C, asleep. Once every one of
// them is there (handshakes: the spinner's counter moves, the callback's
// goroutine is asleep in runtime.Stack's dump, a thread is in
// clock_nanosleep), main calls main.ready (where a debugger stops), prints
// "ready" and blocks reading its stdin; at end of input it exits 0.
package main

/*
#include <unistd.h>
extern void goCallback(void);
static volatile long spin;
static void __attribute__((noinline)) c_sleep(void) { sleep(3600); }
static void __attribute__((noinline)) c_spin(void) { for (;;) spin++; }
static void __attribute__((noinline)) c_calls_go(void) { goCallback(); }
static long spun(void) { return spin; }
*/
import "C"

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"time"
)

//export goCallback
func goCallback() {
	time.Sleep(time.Hour)
}

//go:noinline
func ready() {
	println("ready")
}

// sleepingInC: a thread of this process is in clock_nanosleep (230 on
// x86-64), which libc's sleep calls and Go's runtime never does.
func sleepingInC() bool {
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, t := range tasks {
		b, _ := os.ReadFile("/proc/self/task/" + t.Name() + "/syscall")
		if strings.HasPrefix(string(b), "230 ") {
			return true
		}
	}
	return false
}

func main() {
	go C.c_sleep()
	go C.c_spin()
	go C.c_calls_go()
	buf := make([]byte, 1<<16)
	for C.spun() == 0 || !sleepingInC() ||
		!strings.Contains(string(buf[:runtime.Stack(buf, true)]), "[sleep, locked to thread]:") {
		runtime.Gosched()
	}
	ready()
	os.Stdout.WriteString("ready\n")
	bufio.NewReader(os.Stdin).ReadString(0)
}
