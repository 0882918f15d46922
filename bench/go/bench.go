// The Go side of the gdbx benchmark (bench/src/main.rs builds and runs it).
//
// Usage: go-bench <metric> ; GOMAXPROCS comes from the environment as
// usual. It prints one line: "<metric> <value>", the value in ns per
// operation (spawn, pingpong, switch, selectfast), bytes per parked goroutine
// (rss), ms for the whole test (selectstress) or µs of median lateness
// (timerlate). The same measurements, with the same shape, are in
// examples/src/bin/bench-ours.rs (and the first four in
// bench/src/bin/bench-{may,tokio}.rs).
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"sort"
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
	// TestSelectStress's N without -short.
	selectStressN = 100000
	selectFastN   = 1000000
	timerSleeps   = 10
	timerSleep    = 20 * time.Millisecond
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

// selectstress: Go's TestSelectStress (runtime/chan_test.go) with its
// full N: four senders and four receivers, one per channel (two
// unbuffered, capacities 2 and 3), plus one goroutine sending N values on
// each channel from one select and one receiving N from each in one
// select; a channel that is done is set to nil. ms for the whole test.
func selectStress() float64 {
	const N = selectStressN
	var c [4]chan int
	c[0] = make(chan int)
	c[1] = make(chan int)
	c[2] = make(chan int, 2)
	c[3] = make(chan int, 3)
	var wg sync.WaitGroup
	wg.Add(10)
	start := time.Now()
	for k := 0; k < 4; k++ {
		k := k
		go func() {
			for i := 0; i < N; i++ {
				c[k] <- 0
			}
			wg.Done()
		}()
		go func() {
			for i := 0; i < N; i++ {
				<-c[k]
			}
			wg.Done()
		}()
	}
	go func() {
		var n [4]int
		c1 := c
		for i := 0; i < 4*N; i++ {
			select {
			case c1[3] <- 0:
				n[3]++
				if n[3] == N {
					c1[3] = nil
				}
			case c1[2] <- 0:
				n[2]++
				if n[2] == N {
					c1[2] = nil
				}
			case c1[0] <- 0:
				n[0]++
				if n[0] == N {
					c1[0] = nil
				}
			case c1[1] <- 0:
				n[1]++
				if n[1] == N {
					c1[1] = nil
				}
			}
		}
		wg.Done()
	}()
	go func() {
		var n [4]int
		c1 := c
		for i := 0; i < 4*N; i++ {
			select {
			case <-c1[0]:
				n[0]++
				if n[0] == N {
					c1[0] = nil
				}
			case <-c1[1]:
				n[1]++
				if n[1] == N {
					c1[1] = nil
				}
			case <-c1[2]:
				n[2]++
				if n[2] == N {
					c1[2] = nil
				}
			case <-c1[3]:
				n[3]++
				if n[3] == N {
					c1[3] = nil
				}
			}
		}
		wg.Done()
	}()
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / 1e6
}

// selectfast: one goroutine sends on a buffered channel, then selects over
// two receive cases of which that one is ready; ns per send + select.
func selectFast() float64 {
	a := make(chan int, 1)
	b := make(chan int, 1)
	start := time.Now()
	for i := 0; i < selectFastN; i++ {
		a <- i
		select {
		case <-a:
		case <-b:
		}
	}
	return float64(time.Since(start).Nanoseconds()) / selectFastN
}

// timerlate: two goroutines ping-pong over unbuffered channels (so their
// P's run queue never empties) while the main goroutine sleeps 20 ms, 10
// times; median lateness of a sleep in µs (time slept - 20 ms; the median,
// so that one sleep during which the OS ran another process does not
// decide the figure).
func timerLate() float64 {
	var stop int32
	ping := make(chan int)
	pong := make(chan int)
	done := make(chan struct{})
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	go func() {
		for atomic.LoadInt32(&stop) == 0 {
			ping <- 1
			<-pong
		}
		close(ping)
		close(done)
	}()
	late := make([]time.Duration, timerSleeps)
	for i := range late {
		t := time.Now()
		time.Sleep(timerSleep)
		late[i] = time.Since(t) - timerSleep
	}
	atomic.StoreInt32(&stop, 1)
	<-done
	sort.Slice(late, func(i, j int) bool { return late[i] < late[j] })
	median := (late[timerSleeps/2-1] + late[timerSleeps/2]) / 2
	return float64(median.Nanoseconds()) / 1e3
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-bench spawn|pingpong|switch|rss|selectstress|selectfast|timerlate")
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
	case "selectstress":
		v = selectStress()
	case "selectfast":
		v = selectFast()
	case "timerlate":
		v = timerLate()
	default:
		fmt.Fprintln(os.Stderr, "unknown metric", os.Args[1])
		os.Exit(2)
	}
	fmt.Printf("%s %.1f\n", os.Args[1], v)
}
