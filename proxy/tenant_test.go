package proxy_test

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/proxy"
)

// TestDatabasesAreIsolated serves two databases on two redis-servers and checks each token reaches only its own.
func TestDatabasesAreIsolated(t *testing.T) {
	var dbs []proxy.Database
	servers := map[string]*redistest.Server{}
	for _, name := range []string{"a", "b"} {
		rs := redistest.Start(t)
		servers[name] = rs
		o, _ := pool.ParseURL(rs.URL())
		o.Size = 1
		o.Logger = slog.New(slog.DiscardHandler)
		p := pool.New(o)
		t.Cleanup(func() { p.Close() })
		dbs = append(dbs, proxy.Database{Name: name, Backend: backend.NewNode(p, nil), Tokens: []string{"token-of-database-" + name}})
	}
	srv, err := proxy.New(proxy.Options{MaxArgs: 100, Logger: slog.New(slog.DiscardHandler)}, dbs)
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	g := &gateway{t: t, url: "http://" + ln.Addr().String()}
	auth := func(db string) []string { return []string{"Authorization", "Bearer token-of-database-" + db} }
	g.req("GET", "/set/k/from-a", "", auth("a")...).expect(t, 200, `{"result":"OK"}`)
	g.req("GET", "/get/k", "", auth("b")...).expect(t, 200, `{"result":null}`)
	g.req("GET", "/set/k/from-b", "", auth("b")...).expect(t, 200, `{"result":"OK"}`)
	g.req("GET", "/get/k", "", auth("a")...).expect(t, 200, `{"result":"from-a"}`)

	// One database's outage leaves the other serving.
	servers["a"].Kill()
	if r := g.req("GET", "/get/k", "", auth("a")...); r.status != http.StatusServiceUnavailable && r.status != http.StatusBadGateway {
		t.Errorf("database a down: %d %s", r.status, r.body)
	}
	g.req("GET", "/get/k", "", auth("b")...).expect(t, 200, `{"result":"from-b"}`)

	if _, err := proxy.New(proxy.Options{}, []proxy.Database{{Name: "x", Tokens: []string{"same-token-0123456"}}, {Name: "y", Tokens: []string{"same-token-0123456"}}}); err == nil {
		t.Error("a token opening two databases was accepted")
	}
}
