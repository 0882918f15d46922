// The Go side of the gdbx benchmark (bench/src/main.rs builds and runs it).
//
// Usage: go-bench <spawn|pingpong|switch|rss> ; GOMAXPROCS comes from the
// environment as usual. It prints one line: "<metric> <value>", the value in
// ns per operation (spawn, pingpong, switch) or bytes per parked goroutine
// (rss). The same four measurements, with the same shape, are in
// bench/src/bin/bench-{ours,may,tokio}.rs.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	spawnN    = 1000000
	pingpongN = 200000
	switchN   = 1000000
	rssN      = 100000
)

// spawn: start 1,000,000 goroutines from one goroutine; each marks itself
// done; wait for all. ns per goroutine (create + schedule + run + exit).
func spawn() float64 {
	var wg sync.WaitGroup
	wg.Add(spawnN)
	start := time.Now()
	for i := 0; i < spawnN; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / spawnN
}

// pingpong: two goroutines bounce a value over two unbuffered channels;
// ns per round trip (two sends, two receives, two wake-ups).
func pingpong() float64 {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	start := time.Now()
	for i := 0; i < pingpongN; i++ {
		ping <- i
		<-pong
	}
	el := time.Since(start)
	close(ping)
	return float64(el.Nanoseconds()) / pingpongN
}

// switch: two goroutines each call Gosched switchN times; ns per Gosched.
func switchBench() float64 {
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	for g := 0; g < 2; g++ {
		go func() {
			for i := 0; i < switchN; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / (2 * switchN)
}

func vmRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if strings.HasPrefix(line, "VmRSS:") {
			fields := strings.Fields(line)
			kb, _ := strconv.ParseInt(fields[1], 10, 64)
			return kb * 1024
		}
	}
	panic("no VmRSS")
}

// rss: park 100,000 goroutines on one channel receive; bytes of resident
// memory per parked goroutine (VmRSS after - before) / N.
func rss() float64 {
	release := make(chan struct{})
	var started int64
	var wg sync.WaitGroup
	wg.Add(rssN)
	before := vmRSS()
	for i := 0; i < rssN; i++ {
		go func() {
			atomic.AddInt64(&started, 1)
			<-release
			wg.Done()
		}()
	}
	for atomic.LoadInt64(&started) < rssN {
		runtime.Gosched()
	}
	// Let the last ones reach the receive and park.
	for i := 0; i < 100; i++ {
		runtime.Gosched()
	}
	after := vmRSS()
	close(release)
	wg.Wait()
	return float64(after-before) / rssN
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-bench spawn|pingpong|switch|rss")
		os.Exit(2)
	}
	var v float64
	switch os.Args[1] {
	case "spawn":
		v = spawn()
	case "pingpong":
		v = pingpong()
	case "switch":
		v = switchBench()
	case "rss":
		v = rss()
	default:
		fmt.Fprintln(os.Stderr, "unknown metric", os.Args[1])
		os.Exit(2)
	}
	fmt.Printf("%s %.1f\n", os.Args[1], v)
}
