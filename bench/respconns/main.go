// Command respconns opens many client connections to redisgate's Redis-protocol listener,
// each authenticating and running SET and GET of a key of its own, keeps them all open,
// runs one more command on every one of them, and then reports what Redis and the gateway
// hold: Redis's connected_clients and the gateway's resident memory (VmRSS of -pid).
// bench/resp-conns.sh runs it against a gateway of its own.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:6380", "the listener")
	token := flag.String("token", "", "the gateway token")
	n := flag.Int("n", 10000, "client connections")
	pid := flag.Int("pid", 0, "the gateway's process id, for its RSS")
	redisAddr := flag.String("redis", "", "Redis itself, for INFO clients")
	flag.Parse()
	if err := run(*addr, *token, *n, *pid, *redisAddr); err != nil {
		fmt.Fprintln(os.Stderr, "respconns:", err)
		os.Exit(1)
	}
}

func run(addr, token string, n, pid int, redisAddr string) error {
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	start := time.Now()
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	opening := make(chan struct{}, 256) // at most 256 dials at once: the listen backlog
	for i := range n {
		wg.Add(1)
		opening <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-opening }()
			c, err := net.DialTimeout("tcp", addr, 10*time.Second)
			if err == nil {
				conns[i], readers[i] = c, bufio.NewReaderSize(c, 256)
				c.SetDeadline(time.Now().Add(60 * time.Second))
				key := "conn:" + strconv.Itoa(i)
				_, err = fmt.Fprintf(c, "AUTH %s\r\nSET %s %d\r\nGET %s\r\n", token, key, i, key)
				if err == nil {
					err = expect(readers[i], "+OK", "+OK", "$"+strconv.Itoa(len(strconv.Itoa(i))), strconv.Itoa(i))
				}
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d of %d connections failed; the first: %v", failed.Load(), n, firstErr.Load())
	}
	opened := time.Since(start)
	// Every connection is still open and served: one more command on each, all at once.
	start = time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i].SetDeadline(time.Now().Add(60 * time.Second))
			_, err := fmt.Fprintf(conns[i], "INCR hits\r\n")
			if err == nil {
				var line string
				line, err = readers[i].ReadString('\n')
				if err == nil && !strings.HasPrefix(line, ":") {
					err = fmt.Errorf("INCR: %q", line)
				}
			}
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, fmt.Errorf("connection %d: %w", i, err))
			}
		}()
	}
	wg.Wait()
	if failed.Load() > 0 {
		return fmt.Errorf("%d of %d connections failed the second round; the first: %v", failed.Load(), n, firstErr.Load())
	}
	again := time.Since(start)
	clients := "n/a"
	if redisAddr != "" {
		v, err := redisClients(redisAddr)
		if err != nil {
			return err
		}
		clients = strconv.Itoa(v - 1) // less the connection asking
	}
	fmt.Printf("| %d | %s | %s | %s | %s | %s |\n", n, opened.Round(time.Millisecond), again.Round(time.Millisecond), clients, rss(pid), rss(os.Getpid()))
	return nil
}

// expect reads one line per want and checks each.
func expect(r *bufio.Reader, want ...string) error {
	for _, w := range want {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if got := strings.TrimSuffix(line, "\r\n"); got != w {
			return fmt.Errorf("got %q, want %q", got, w)
		}
	}
	return nil
}

// redisClients returns connected_clients of INFO clients at addr.
func redisClients(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "INFO clients\r\n"); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("INFO clients: %w", err)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_clients:"); ok {
			return strconv.Atoi(v)
		}
	}
}

// rss returns VmRSS of process pid, "n/a" when it cannot be read.
func rss(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return "n/a"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}
