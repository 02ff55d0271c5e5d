package respserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/metrics"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/poolstore"
)

func TestRateLimitPerCommand(t *testing.T) {
	rs := redistest.Start(t)
	o, _ := pool.ParseURL(rs.URL())
	o.DB, o.Logger = 15, slog.New(slog.DiscardHandler)
	store := pool.New(o)
	t.Cleanup(func() { store.Close() })
	rate, err := ratelimit.ParseRate("5/m")
	if err != nil {
		t.Fatal(err)
	}
	l := start(t, func(s *setup) {
		s.redis = rs
		s.proxy.Limiter = ratelimit.NewLimiter(poolstore.New(store), ratelimit.Options{Lease: -1})
		s.proxy.TokenRate = rate
	})
	c := l.client(rwToken)
	ctx := context.Background()
	// A pipeline of n costs n: of 8 commands, 5 pass.
	cmds, _ := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 8 {
			p.Set(ctx, fmt.Sprint("k", i), i, 0)
		}
		return nil
	})
	passed := 0
	for _, cmd := range cmds {
		switch err := cmd.Err(); {
		case err == nil:
			passed++
		case !strings.HasPrefix(err.Error(), "ERR rate limit exceeded: token limit 5/m") || !strings.Contains(err.Error(), "retry in "):
			t.Errorf("over the limit: %v", err)
		}
	}
	if passed != 5 {
		t.Errorf("%d commands passed, want 5", passed)
	}
}

func TestShutdownDrainsClients(t *testing.T) {
	l := start(t)
	c := l.client(rwToken)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- c.BLPop(ctx, time.Second, "nothing").Err() }()
	time.Sleep(200 * time.Millisecond)
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := l.srv.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	// The command under way was answered before its connection closed.
	if err := <-done; err != redis.Nil {
		t.Errorf("BLPOP under way at shutdown: %v", err)
	}
	if n := l.srv.Conns(); n != 0 {
		t.Errorf("%d connections left", n)
	}
}

// TestManyConnectionsShareThePool opens many client connections, each sending commands, and
// checks that Redis sees only the pool's connections. REDISGATE_RESP_CONNS sets how many
// (default 2,000; 10,000 for the acceptance figure needs ulimit -n above 20,000 in one
// process: bench/resp-conns.sh runs the clients apart from the gateway).
func TestManyConnectionsShareThePool(t *testing.T) {
	n := 2000
	if v := os.Getenv("REDISGATE_RESP_CONNS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	l := start(t)
	var wg sync.WaitGroup
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	// At most 256 connections are being opened at once, so that the listen backlog does not
	// overflow; all stay open to the end.
	opening := make(chan struct{}, 256)
	for i := range n {
		wg.Add(1)
		opening <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-opening }()
			nc, err := net.Dial("tcp", l.addr)
			if err != nil {
				errs <- err
				return
			}
			conns[i] = nc
			nc.SetDeadline(time.Now().Add(60 * time.Second))
			key := fmt.Sprint("conn", i)
			fmt.Fprintf(nc, "AUTH %s\r\nSET %s %d\r\nGET %s\r\n", rwToken, key, i, key)
			buf := make([]byte, 64)
			got := ""
			for !strings.HasSuffix(got, fmt.Sprintf("\r\n%d\r\n", i)) {
				m, err := nc.Read(buf)
				if err != nil {
					errs <- fmt.Errorf("conn %d: %v after %q", i, err, got)
					return
				}
				got += string(buf[:m])
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if open := l.srv.Conns(); open != n {
		t.Errorf("%d connections open, want %d", open, n)
	}
	clients := l.redis.MustDo("INFO", "clients").(string)
	connected := -1
	for _, line := range strings.Split(clients, "\r\n") {
		if v, ok := strings.CutPrefix(line, "connected_clients:"); ok {
			connected, _ = strconv.Atoi(v)
		}
	}
	// The pool (2), blocking connections (none dialled yet), the pub/sub hub's connection and
	// redistest's own INFO connection.
	if connected > 2+2+1+1 {
		t.Errorf("Redis sees %d clients for %d gateway clients", connected, n)
	}
	status, _ := os.ReadFile("/proc/self/status")
	rss := ""
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = strings.TrimSpace(v)
		}
	}
	t.Logf("%d client connections, Redis sees %d connections; RSS of the test process (gateway and clients): %s", n, connected, rss)
	for _, nc := range conns {
		if nc != nil {
			nc.Close()
		}
	}
}

func TestRevokedTokenEndsItsConnections(t *testing.T) {
	l := start(t)
	r := l.raw(t)
	r.send("AUTH " + rwToken + "\r\nPING\r\n")
	r.line()
	r.line()
	if err := l.gw.Reload(proxy.Access{Databases: []proxy.DatabaseAccess{{Name: "test", Tokens: []string{"another-token-0123456789abcdef"}}}}); err != nil {
		t.Fatal(err)
	}
	r.send("GET k\r\n")
	if got := r.line(); !strings.Contains(got, "revoked") {
		t.Errorf("after revocation: %q", got)
	}
	r.closed()
}

func TestMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	l := start(t, func(s *setup) { s.resp.Metrics = reg })
	c := l.client(rwToken, func(o *redis.Options) { o.PoolSize = 1 })
	ctx := context.Background()
	c.Set(ctx, "k", "v", 0)
	c.Do(ctx, "CONFIG", "GET", "x")
	w := l.client(rwToken, func(o *redis.Options) { o.PoolSize = 1 })
	if err := w.Do(ctx, "WATCH", "k").Err(); err != nil {
		t.Fatal(err)
	}
	sub := w.Subscribe(ctx, "a", "b")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := reg.Write(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"redisgate_resp_connections 3",
		`redisgate_resp_pinned_connections{database="test"} 1`,
		"redisgate_resp_subscriptions 1",
		`redisgate_resp_connections_total{outcome="accepted"} 3`,
		`redisgate_resp_errors_total{database="test"} `, // the refusal, and go-redis's optional handshake commands
		"redisgate_resp_batch_duration_seconds_count",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(out.String(), `redisgate_resp_commands_total{database="test"}`) {
		t.Errorf("no command count")
	}
	if testing.Verbose() {
		t.Log(out.String())
	}
}
