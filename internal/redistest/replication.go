package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartReplica starts a redis-server replicating from leader (through via when via is not
// empty, e.g. a DelayProxy's address) and waits until its link is up and the leader streams
// writes to it (after a full sync the leader waits for the replica's first acknowledgement,
// which replicas send once a second).
func StartReplica(t testing.TB, leader *Server, via string, args ...string) *Server {
	t.Helper()
	if via == "" {
		via = leader.Addr
	}
	host, port, _ := net.SplitHostPort(via)
	s := Start(t, append([]string{"--replicaof", host, port, "--repl-diskless-load", "disabled"}, args...)...)
	WaitFor(t, 10*time.Second, func() bool {
		v, err := s.Do("INFO", "replication")
		return err == nil && strings.Contains(fmt.Sprint(v), "master_link_status:up")
	}, "replica link up")
	// A write seen on the replica, then its deletion, prove the stream flows.
	probe := "redistest:probe:" + s.Addr
	leader.MustDo("SET", probe, "1")
	WaitFor(t, 10*time.Second, func() bool { v, err := s.Do("EXISTS", probe); return err == nil && v == int64(1) }, "replica streaming")
	leader.MustDo("DEL", probe)
	WaitFor(t, 10*time.Second, func() bool { v, err := s.Do("EXISTS", probe); return err == nil && v == int64(0) }, "replica streaming")
	return s
}

// WaitFor polls cond every 20 ms until it holds or timeout passes, then fails the test naming what.
func WaitFor(t testing.TB, timeout time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Sentinel is one redis-sentinel process started for a test.
type Sentinel struct {
	Addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartSentinels starts n redis-sentinel processes monitoring leader as master name with
// quorum n/2+1, down-after-milliseconds 1000 and failover-timeout 5000, and stops them when the test ends.
func StartSentinels(t testing.TB, n int, name string, leader *Server) []*Sentinel {
	t.Helper()
	bin, err := exec.LookPath("redis-sentinel")
	if err != nil {
		t.Fatal("redis-sentinel not found on PATH: `make test` installs it (apt-get install redis-sentinel)")
	}
	host, port, _ := net.SplitHostPort(leader.Addr)
	var out []*Sentinel
	for range n {
		sp, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &Sentinel{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(sp)), dir: t.TempDir(), done: make(chan struct{})}
		conf := fmt.Sprintf("port %d\nbind 127.0.0.1\ndaemonize no\nprotected-mode no\ndir %s\nlogfile %s\n"+
			"sentinel monitor %s %s %s %d\nsentinel down-after-milliseconds %s 1000\n"+
			"sentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			sp, s.dir, filepath.Join(s.dir, "sentinel.log"), name, host, port, n/2+1, name, name, name)
		file := filepath.Join(s.dir, "sentinel.conf")
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		s.cmd = exec.Command(bin, file)
		if err := s.cmd.Start(); err != nil {
			t.Fatalf("start redis-sentinel: %v", err)
		}
		go func(cmd *exec.Cmd, done chan struct{}) {
			cmd.Wait()
			close(done)
		}(s.cmd, s.done)
		t.Cleanup(s.Kill)
		out = append(out, s)
	}
	for _, s := range out {
		WaitFor(t, 10*time.Second, func() bool { return ping(s.Addr) == nil }, "sentinel "+s.Addr+" up")
	}
	return out
}

// Kill stops the sentinel at once and waits for it to exit.
func (s *Sentinel) Kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// Log returns the tail of the sentinel's log file.
func (s *Sentinel) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "sentinel.log"))
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// DelayProxy forwards TCP connections to target, holding every chunk of bytes for delay in
// each direction: a replica that replicates through it lags its leader by about delay.
type DelayProxy struct {
	Addr   string
	ln     net.Listener
	target string
	delay  time.Duration
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
}

// StartDelayProxy starts a DelayProxy on a free loopback port and stops it when the test ends.
func StartDelayProxy(t testing.TB, target string, delay time.Duration) *DelayProxy {
	t.Helper()
	p, err := NewDelayProxy(target, delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// NewDelayProxy starts a DelayProxy to target on a free loopback port; Close stops it.
func NewDelayProxy(target string, delay time.Duration) (*DelayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("delay proxy: %w", err)
	}
	p := &DelayProxy{Addr: ln.Addr().String(), ln: ln, target: target, delay: delay}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *DelayProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(out, in)
		go p.pipe(in, out)
	}
}

// pipe copies src to dst, each chunk delayed; chunks keep their order. Chunks already due when
// the writer wakes go out in one write, so a busy connection costs one wake-up per batch, not per chunk.
func (p *DelayProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	type chunk struct {
		at   time.Time
		data []byte
	}
	ch := make(chan chunk, 1024)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		failed := false
		var out []byte
		var held chunk // received but not yet due
		holding := false
		for {
			c := held
			if !holding {
				var ok bool
				if c, ok = <-ch; !ok {
					return
				}
			}
			holding = false
			if failed {
				continue // drain until the reader stops
			}
			sleepUntil(c.at)
			out = append(out[:0], c.data...)
			closed := false
		gather:
			for {
				select {
				case d, ok := <-ch:
					switch {
					case !ok:
						closed = true
						break gather
					case time.Until(d.at) > timerSlack: // due within timerSlack counts as due, as in sleepUntil
						held, holding = d, true
						break gather
					}
					out = append(out, d.data...)
				default:
					break gather
				}
			}
			if _, err := dst.Write(out); err != nil {
				failed = true
				src.Close() // ends the reading loop
			}
			if closed {
				return
			}
		}
	}()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			ch <- chunk{at: time.Now().Add(p.delay), data: append([]byte(nil), buf[:n]...)}
		}
		if err != nil {
			break
		}
	}
	close(ch)
	wg.Wait()
	dst.Close()
}

// Close stops accepting, closes every forwarded connection and waits for the proxy's goroutines.
func (p *DelayProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
