// Package gatewaytest starts a real redisgate gateway, in-process, over a real redis-server
// for tests, and counts the TCP connections it accepts.
package gatewaytest

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/poolstore"
)

// Token is the read-write token of the gateway's database.
const Token = "gatewaytest-token-0123456789"

// Options configures a test gateway.
type Options struct {
	// IPRate, when set, limits requests per client IP at the gateway (answering 429).
	IPRate ratelimit.Rate
	// CommandTimeout is the gateway's deadline for one request's Redis work (default 2 s).
	CommandTimeout time.Duration
}

// Gateway is a running gateway and the redis-server behind it.
type Gateway struct {
	// URL is the gateway's http:// base URL.
	URL string
	// Redis is the redis-server behind the gateway.
	Redis *redistest.Server
	ln    *countingListener
}

// Start runs redis-server and a gateway in front of it until the test ends.
func Start(t testing.TB, opts Options) *Gateway {
	t.Helper()
	rs := redistest.Start(t)
	return StartOn(t, rs, opts)
}

// StartOn runs a gateway in front of rs until the test ends.
func StartOn(t testing.TB, rs *redistest.Server, opts Options) *Gateway {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	popts, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	popts.Size = 2
	popts.Logger = quiet
	popts.DialTimeout = 200 * time.Millisecond
	p := pool.New(popts)
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 2 * time.Second
	}
	po := proxy.Options{
		MaxBodyBytes:   1 << 20,
		MaxPipeline:    1000,
		MaxArgs:        10000,
		CommandTimeout: opts.CommandTimeout,
		ReadTimeout:    5 * time.Second,
		WriteTimeout:   5 * time.Second,
		IdleTimeout:    30 * time.Second,
		Logger:         quiet,
	}
	if !opts.IPRate.IsZero() {
		po.Limiter = ratelimit.NewLimiter(poolstore.New(p), ratelimit.Options{Lease: -1, Timeout: time.Second, Logger: quiet})
		po.IPRate = opts.IPRate
	}
	srv, err := proxy.New(po, []proxy.Database{{Name: "test", Backend: backend.NewNode(p, nil), Tokens: []string{Token}}})
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	ln := &countingListener{Listener: inner}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("gatewaytest: shutdown: %v", err)
		}
		<-served
		p.Close()
	})
	g := &Gateway{URL: "http://" + inner.Addr().String(), Redis: rs, ln: ln}
	// One answered request proves Serve is running (a Shutdown before it would not stop it);
	// the probe's connection is not counted.
	probe := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	req, _ := http.NewRequest(http.MethodOptions, g.URL+"/", nil)
	res, err := probe.Do(req)
	if err != nil {
		t.Fatalf("gatewaytest: gateway does not answer: %v", err)
	}
	res.Body.Close()
	probe.CloseIdleConnections()
	ln.accepted.Store(0)
	return g
}

// Accepted returns how many TCP connections the gateway has accepted.
func (g *Gateway) Accepted() int64 { return g.ln.accepted.Load() }

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}
