package cache

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
)

// TestNoJoiningAFillOlderThanAnInvalidation holds a fill in flight (Redis frozen), then
// invalidates its key: a Get after that must send its own read, as the running fill may
// hold the value the invalidation replaced.
func TestNoJoiningAFillOlderThanAnInvalidation(t *testing.T) {
	rs := redistest.Start(t)
	ro, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{Redis: ro, Logger: slog.New(slog.DiscardHandler), PingInterval: time.Second, Timeout: 2 * time.Second})
	defer c.Close()
	redistest.WaitFor(t, 5*time.Second, c.On, "cache on")
	rs.MustDo("SET", "k", "v")
	cmd := string(appendKey(nil, [][]byte{[]byte("GET"), []byte("k")}))
	inFlight := func() *fill {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.fills[cmd]
	}
	rs.Freeze()
	done := make(chan error, 2)
	get := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _, err := c.Get(ctx, [][]byte{[]byte("GET"), []byte("k")})
		done <- err
	}
	go get()
	redistest.WaitFor(t, time.Second, func() bool { return inFlight() != nil }, "the first fill in flight")
	first := inFlight()
	c.invalidate([][]byte{[]byte("k")}, false)
	go get()
	redistest.WaitFor(t, time.Second, func() bool { f := inFlight(); return f != nil && f != first }, "a second fill in flight")
	rs.Thaw()
	for range 2 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if st := c.Stats(); st.Coalesced != 0 || st.Misses != 2 {
		t.Errorf("stats %+v: want 2 misses, none coalesced", st)
	}
}
