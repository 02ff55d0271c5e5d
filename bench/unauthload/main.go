// Command unauthload loads a redisgate on loopback with hostile connections for bench/unauth.sh:
// unauthenticated requests announcing large bodies and trickling them, headers trickled one
// byte at a time, or authenticated large bodies sent slowly. Meanwhile one client with a
// valid token keeps sending GETs, and the gateway's RSS (and, given its admin URL, its
// request-body memory in flight) is sampled. It prints one RESULT line of key=value pairs.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type config struct {
	addr, token, metrics, mode, phase string
	pid, conns, bodySize, chunk       int
	duration, interval, pause         time.Duration
	payload                           []byte // the bytes trickled, shared by every connection
}

// counts are what the hostile connections saw.
type counts struct {
	dials, dialErrs atomic.Int64
	status          sync.Map // status code (string) -> *atomic.Int64
	bytesSent       atomic.Int64
}

func (c *counts) saw(status string) {
	v, _ := c.status.LoadOrStore(status, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (c *counts) String() string {
	var parts []string
	c.status.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%s:%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(parts)
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "", "gateway host:port (loopback)")
	flag.StringVar(&cfg.token, "token", "", "a valid token")
	flag.StringVar(&cfg.metrics, "metrics", "", "admin /metrics URL (optional)")
	flag.StringVar(&cfg.mode, "mode", "unauth-body", "unauth-body, slow-headers or auth-body")
	flag.StringVar(&cfg.phase, "phase", "", "name printed in the RESULT line")
	flag.IntVar(&cfg.pid, "pid", 0, "gateway pid, for VmRSS")
	flag.IntVar(&cfg.conns, "conns", 2000, "hostile connections kept open")
	flag.IntVar(&cfg.bodySize, "body", 10000000, "announced Content-Length")
	flag.IntVar(&cfg.chunk, "chunk", 1, "bytes written per interval on each connection")
	flag.DurationVar(&cfg.duration, "duration", 15*time.Second, "length of the load")
	flag.DurationVar(&cfg.interval, "interval", time.Second, "time between writes on a connection")
	flag.DurationVar(&cfg.pause, "pause", time.Second, "pause before a closed connection is opened again")
	flag.Parse()
	if cfg.addr == "" || cfg.token == "" || cfg.pid == 0 {
		fmt.Fprintln(os.Stderr, "unauthload: -addr, -token and -pid are required")
		os.Exit(2)
	}
	if !strings.HasPrefix(cfg.addr, "127.") && !strings.HasPrefix(cfg.addr, "localhost:") {
		fmt.Fprintln(os.Stderr, "unauthload: loopback addresses only")
		os.Exit(2)
	}
	switch cfg.mode {
	case "unauth-body", "auth-body":
		cfg.payload = bytes.Repeat([]byte("x"), cfg.bodySize)
	case "slow-headers":
		cfg.payload = []byte("GET /ping HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + cfg.token + "\r\n" + strings.Repeat("X-Slow: trickled\r\n", 10000))
	default:
		fmt.Fprintln(os.Stderr, "unauthload: unknown -mode", cfg.mode)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "unauthload:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	base, err := rss(cfg.pid)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration)
	defer cancel()
	var wg sync.WaitGroup

	// Samplers: RSS and body memory in flight, every 100 ms.
	var peakRSS, peakBody, lastRSS atomic.Int64
	peakRSS.Store(base)
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := &http.Client{Timeout: time.Second}
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if r, err := rss(cfg.pid); err == nil {
				lastRSS.Store(r)
				if r > peakRSS.Load() {
					peakRSS.Store(r)
				}
			}
			if cfg.metrics != "" {
				if b, ok := bodyInFlight(hc, cfg.metrics); ok && b > peakBody.Load() {
					peakBody.Store(b)
				}
			}
		}
	}()

	// The well-behaved client: one keep-alive connection, a GET every 10 ms.
	var lat []time.Duration
	var okN, errN atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		for ctx.Err() == nil {
			req, _ := http.NewRequest("GET", "http://"+cfg.addr+"/get/benchkey", nil)
			req.Header.Set("Authorization", "Bearer "+cfg.token)
			start := time.Now()
			res, err := hc.Do(req)
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			d := time.Since(start)
			if err != nil || res.StatusCode != 200 {
				errN.Add(1)
			} else {
				okN.Add(1)
				lat = append(lat, d)
			}
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	// The hostile connections, opened over the first second.
	var c counts
	for i := range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Duration(i) * time.Second / time.Duration(cfg.conns)):
			}
			for ctx.Err() == nil {
				hostile(ctx, cfg, &c)
				select {
				case <-ctx.Done():
				case <-time.After(cfg.pause):
				}
			}
		}()
	}
	wg.Wait()
	end, _ := rss(cfg.pid)

	slices.Sort(lat)
	pct := func(p float64) string {
		if len(lat) == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2fms", float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds())/1000)
	}
	fmt.Printf("RESULT phase=%s mode=%s conns=%d announced=%d chunk=%d interval=%s duration=%s rss_base_mib=%.1f rss_peak_mib=%.1f rss_growth_mib=%.1f rss_end_mib=%.1f body_in_flight_peak_mib=%.1f dials=%d dial_errors=%d hostile_bytes_sent=%d hostile_statuses=%s client_ok=%d client_errors=%d client_p50=%s client_p99=%s client_max=%s\n",
		cfg.phase, cfg.mode, cfg.conns, cfg.bodySize, cfg.chunk, cfg.interval, cfg.duration,
		mib(base), mib(peakRSS.Load()), mib(peakRSS.Load()-base), mib(end), mib(peakBody.Load()),
		c.dials.Load(), c.dialErrs.Load(), c.bytesSent.Load(), c.String(), okN.Load(), errN.Load(), pct(0.50), pct(0.99), pct(1))
	return nil
}

// hostile runs one hostile connection until the server closes it or ctx ends.
func hostile(ctx context.Context, cfg config, c *counts) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", cfg.addr)
	c.dials.Add(1)
	if err != nil {
		c.dialErrs.Add(1)
		return
	}
	defer conn.Close()
	var head string
	switch cfg.mode {
	case "unauth-body":
		head = fmt.Sprintf("POST /set/k HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", cfg.bodySize)
	case "auth-body":
		head = fmt.Sprintf("POST /set/slow HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", cfg.token, cfg.bodySize)
	}
	body := cfg.payload // what is trickled, chunk bytes at a time
	if _, err := io.WriteString(conn, head); err != nil {
		c.saw("write-error")
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		br := bufio.NewReader(conn)
		line, err := br.ReadString('\n')
		if err != nil {
			if ctx.Err() == nil {
				c.saw("closed-silently")
			}
			return
		}
		if f := strings.Fields(line); len(f) >= 2 {
			if _, err := strconv.Atoi(f[1]); err == nil {
				c.saw(f[1])
			}
		}
		io.Copy(io.Discard, br)
	}()
	t := time.NewTicker(cfg.interval)
	defer t.Stop()
	for len(body) > 0 {
		select {
		case <-done:
			return
		case <-ctx.Done():
			conn.Close()
			<-done
			return
		case <-t.C:
		}
		n := min(cfg.chunk, len(body))
		conn.SetWriteDeadline(time.Now().Add(time.Second))
		w, err := conn.Write(body[:n])
		c.bytesSent.Add(int64(w))
		if err != nil {
			break
		}
		body = body[n:]
	}
	select {
	case <-done:
	case <-ctx.Done():
		conn.Close()
		<-done
	}
}

// rss returns the resident set of process pid in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// bodyInFlight reads redisgate_request_body_bytes_in_flight from the admin /metrics.
func bodyInFlight(hc *http.Client, url string) (int64, bool) {
	res, err := hc.Get(url)
	if err != nil {
		return 0, false
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "redisgate_request_body_bytes_in_flight "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int64(f), err == nil
		}
	}
	return 0, false
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
