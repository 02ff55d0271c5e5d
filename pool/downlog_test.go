package pool_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
)

// recorder is a slog.Handler keeping the messages of the records it handles.
type recorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newRecorder() recorder { return recorder{mu: &sync.Mutex{}, msgs: &[]string{}} }

func (r recorder) Enabled(context.Context, slog.Level) bool { return true }

func (r recorder) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.msgs = append(*r.msgs, line)
	return nil
}

func (r recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r recorder) WithGroup(string) slog.Handler      { return r }

func (r recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), *r.msgs...)
}

// TestUnreachableQuiet checks that over 5 s with Redis down a pool logs at most 3 lines, its
// first warning naming the address and no credentials, that a request then gets an error
// naming the address, and that the pool says once when Redis is back: for a server that was
// never up and one lost while the pool was connected.
func TestUnreachableQuiet(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	never := ln.Addr().String()
	ln.Close()
	neverLog := newRecorder()
	np := pool.New(pool.Options{Addr: never, Username: "gate", Password: "pool-secret-password", Logger: slog.New(neverLog)})
	defer np.Close()

	rs := redistest.Start(t)
	lostLog := newRecorder()
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.Logger = slog.New(lostLog)
	lp := pool.New(o)
	defer lp.Close()
	redistest.WaitFor(t, 2*time.Second, func() bool { return lp.Connected() == 4 }, "the pool connected")
	rs.Kill()

	time.Sleep(5 * time.Second)
	for _, c := range []struct {
		name, addr string
		log        recorder
		p          *pool.Pool
	}{{"never up", never, neverLog, np}, {"lost", rs.Addr, lostLog, lp}} {
		lines := c.log.lines()
		t.Logf("%s: %q", c.name, lines)
		if len(lines) == 0 || len(lines) > 3 {
			t.Errorf("%s: %d lines over 5 s, want 1 to 3:\n%s", c.name, len(lines), strings.Join(lines, "\n"))
			continue
		}
		if !strings.HasPrefix(lines[0], "WARN cannot reach redis at "+c.addr+": ") {
			t.Errorf("%s: first line %q", c.name, lines[0])
		}
		if all := strings.Join(lines, "\n"); strings.Contains(all, "pool-secret-password") {
			t.Errorf("%s: the log shows the password:\n%s", c.name, all)
		}
		b := pool.NewBatch(1)
		b.Add([]byte("PING"))
		err := c.p.Do(context.Background(), b)
		var ue *pool.UnavailableError
		if !errors.As(err, &ue) || !errors.Is(err, pool.ErrUnavailable) || err.Error() != "cannot reach redis at "+c.addr {
			t.Errorf("%s: Do: %v, want an UnavailableError naming %s", c.name, err, c.addr)
		}
	}

	rs.Restart()
	redistest.WaitFor(t, 3*time.Second, func() bool { return lp.Connected() == 4 }, "the pool reconnected")
	lines := lostLog.lines()
	ups := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "INFO redis at "+rs.Addr+" is reachable again after ") {
			ups++
		}
	}
	if ups != 1 || len(lines) > 4 {
		t.Errorf("after the restart: %d lines saying Redis is back, want 1:\n%s", ups, strings.Join(lines, "\n"))
	}
}

// TestDownLog checks the policy itself: one warning when down, a summary at most every
// Every, one line when up again, nothing while up.
func TestDownLog(t *testing.T) {
	rec := newRecorder()
	d := pool.DownLog{Logger: slog.New(rec), Every: 100 * time.Millisecond}
	d.Up("h:1")
	boom := errors.New("connection refused")
	start := time.Now()
	for time.Since(start) < 350*time.Millisecond {
		d.Failed("h:1", boom)
		time.Sleep(5 * time.Millisecond)
	}
	if !d.Down() {
		t.Error("Down() = false after failures")
	}
	d.Up("h:1")
	d.Up("h:1")
	lines := rec.lines()
	if len(lines) < 4 || len(lines) > 5 {
		t.Fatalf("%d lines, want 1 warning, 2 or 3 summaries, 1 up:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	if !strings.HasPrefix(lines[0], "WARN cannot reach redis at h:1: connection refused") {
		t.Errorf("first line %q", lines[0])
	}
	for _, l := range lines[1 : len(lines)-1] {
		if !strings.HasPrefix(l, "WARN still cannot reach redis at h:1 for ") || !strings.Contains(l, ": connection refused") {
			t.Errorf("summary %q", l)
		}
	}
	if l := lines[len(lines)-1]; !strings.HasPrefix(l, "INFO redis at h:1 is reachable again after ") {
		t.Errorf("last line %q", l)
	}
}
