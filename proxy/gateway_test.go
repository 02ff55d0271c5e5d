package proxy_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/pubsub"
)

const (
	rwToken = "test-read-write-token-0123456789"
	roToken = "test-read-only-token-0123456789"
)

// gateway is a proxy.Server on a loopback port in front of a real redis-server.
type gateway struct {
	t     testing.TB
	url   string
	redis *redistest.Server
	pool  *pool.Pool
	srv   *proxy.Server
	// backend is the database's backend.
	backend backend.Backend
}

// gatewayConfig is what startGateway builds from.
type gatewayConfig struct {
	opts          proxy.Options
	blockingConns int
	pubsub        *pubsub.Options // nil: no pub/sub
	mode          mode            // the backend's shape and read cache
	// database changes the database before the server is made; redis reaches its Redis.
	database []func(db *proxy.Database, redis pool.Options)
	// cleanup runs when the test ends, after the server's shutdown.
	cleanup []func()
}

type gatewayOption func(*gatewayConfig)

// withOptions changes the proxy options.
func withOptions(f func(*proxy.Options)) gatewayOption {
	return func(c *gatewayConfig) { f(&c.opts) }
}

// withBlocking gives the gateway n dedicated connections for blocking commands, capped at maxBlock.
func withBlocking(n int, maxBlock time.Duration) gatewayOption {
	return func(c *gatewayConfig) {
		c.opts.MaxBlock = maxBlock
		c.blockingConns = n
	}
}

// withPubSub gives the gateway a pub/sub hub configured by f.
func withPubSub(f func(*pubsub.Options)) gatewayOption {
	return func(c *gatewayConfig) {
		c.pubsub = &pubsub.Options{Logger: slog.New(slog.DiscardHandler)}
		f(c.pubsub)
	}
}

func startGateway(t testing.TB, opts ...gatewayOption) *gateway {
	t.Helper()
	rs := redistest.Start(t)
	popts, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	popts.Size = 2
	popts.Logger = slog.New(slog.DiscardHandler)
	cfg := gatewayConfig{opts: proxy.Options{
		MaxBodyBytes:   1 << 20,
		MaxPipeline:    100,
		MaxArgs:        1000,
		CommandTimeout: 2 * time.Second,
		ReadTimeout:    5 * time.Second,
		WriteTimeout:   5 * time.Second,
		IdleTimeout:    5 * time.Second,
		Logger:         slog.New(slog.DiscardHandler),
	}}
	for _, f := range opts {
		f(&cfg)
	}
	db := proxy.Database{Name: "test", Tokens: []string{rwToken}, ReadOnlyTokens: []string{roToken}}
	// p is the tenant pool of a plain single node, else a client of the test's own.
	p := pool.New(popts)
	if m := cfg.mode; m.replicated || m.cache != cacheOff || m.cluster != nil {
		db.Backend = openMode(t, m, rs, popts, cfg.blockingConns, &db)
	} else {
		var bp *pool.Dedicated
		if cfg.blockingConns > 0 {
			bo := popts
			bo.Size = cfg.blockingConns
			bp = pool.NewDedicated(bo)
		}
		db.Backend = backend.NewNode(p, bp)
		t.Cleanup(db.Backend.Close)
	}
	if cfg.pubsub != nil {
		cfg.pubsub.Redis = popts
		hub := pubsub.NewHub(*cfg.pubsub)
		t.Cleanup(func() { hub.Close() }) // after the server's Shutdown, registered below
		db.PubSub = hub
	}
	for _, f := range cfg.database {
		f(&db, popts)
	}
	for _, f := range cfg.cleanup {
		t.Cleanup(f)
	}
	srv, err := proxy.New(cfg.opts, []proxy.Database{db})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
		p.Close()
	})
	return &gateway{t: t, url: "http://" + ln.Addr().String(), redis: rs, pool: p, srv: srv, backend: db.Backend}
}

// response is what the gateway answered.
type response struct {
	status int
	header http.Header
	body   string
}

// req sends one request; headers alternate name, value. The token is rwToken unless an
// "Authorization" header is given or token is set to "".
func (g *gateway) req(method, path, body string, headers ...string) response {
	g.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, err := http.NewRequest(method, g.url+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	r.Header.Set("Authorization", "Bearer "+rwToken)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			r.Header.Del(headers[i])
			continue
		}
		r.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		g.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(b)}
}

// expect checks status and exact body.
func (r response) expect(t *testing.T, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Errorf("got %d %s, want %d %s", r.status, r.body, status, body)
	}
}
