package pool_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
)

// TestHelloAndOnLost checks that Options.Hello runs in every handshake, that a refused Hello
// command fails the dial, and that OnLost hears of each connection lost.
func TestHelloAndOnLost(t *testing.T) {
	rs := redistest.Start(t)
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.Size, o.ClientName, o.Logger = 1, "hello-test", slog.New(slog.DiscardHandler)
	o.Hello = [][]string{{"CLIENT", "TRACKING", "ON"}}
	var lost atomic.Int32
	o.OnLost = func(error) { lost.Add(1) }
	p := pool.New(o)
	defer p.Close()
	redistest.WaitFor(t, 2*time.Second, func() bool { return p.Connected() == 1 }, "connected")
	if info := do(t, p, "CLIENT", "INFO"); !strings.Contains(info, "flags=t") {
		t.Errorf("tracking not on after the handshake: %s", info)
	}
	list := fmt.Sprint(rs.MustDo("CLIENT", "LIST"))
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, "name=hello-test") {
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
			rs.MustDo("CLIENT", "KILL", "ID", id)
		}
	}
	redistest.WaitFor(t, 2*time.Second, func() bool { return lost.Load() == 1 }, "OnLost called")
	redistest.WaitFor(t, 2*time.Second, func() bool { return p.Connected() == 1 }, "reconnected")
	if info := do(t, p, "CLIENT", "INFO"); !strings.Contains(info, "flags=t") {
		t.Errorf("tracking not on after the reconnect: %s", info)
	}

	o.Hello = [][]string{{"NO-SUCH-COMMAND"}}
	o.OnLost = nil
	o.DialTimeout = 200 * time.Millisecond
	bad := pool.New(o)
	defer bad.Close()
	time.Sleep(100 * time.Millisecond)
	if bad.Connected() != 0 {
		t.Error("a refused Hello command did not fail the dial")
	}
}
