package proxy_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/replicaset"
)

// replicatedGateway serves one database from a leader and two replicas.
type replicatedGateway struct {
	*gateway
	leader, r1, r2 *redistest.Server
	set            *replicaset.Set
}

func startReplicatedGateway(t *testing.T, mode replicaset.Mode) *replicatedGateway {
	t.Helper()
	leader := redistest.Start(t)
	r1 := redistest.StartReplica(t, leader, "")
	r2 := redistest.StartReplica(t, leader, "")
	set, err := replicaset.New(replicaset.Options{
		Leader: leader.URL(), Replicas: []string{r1.URL(), r2.URL()}, Mode: mode, AckTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := proxy.New(proxy.Options{MaxArgs: 100, Logger: slog.New(slog.DiscardHandler)},
		[]proxy.Database{{Name: "r", Replicated: set, Tokens: []string{rwToken}}})
	if err != nil {
		t.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-served
		set.Close()
	})
	redistest.WaitFor(t, 3*time.Second, func() bool {
		for _, r := range set.Replicas() {
			if !r.Healthy {
				return false
			}
		}
		return true
	}, "replicas healthy")
	return &replicatedGateway{gateway: &gateway{t: t, url: "http://" + ln.Addr().String(), redis: leader}, leader: leader, r1: r1, r2: r2, set: set}
}

func getCalls(t *testing.T, rs *redistest.Server) string {
	v, err := rs.Do("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cmdstat_get:calls=(\d+)`).FindStringSubmatch(fmt.Sprint(v))
	if m == nil {
		return "0"
	}
	return m[1]
}

func TestReplicatedEventual(t *testing.T) {
	g := startReplicatedGateway(t, replicaset.Eventual)
	w := g.req("GET", "/set/k/v", "")
	w.expect(t, 200, `{"result":"OK"}`)
	tok := w.header.Get("Upstash-Sync-Token")
	if _, ok := replicaset.ParseToken(tok); !ok {
		t.Fatalf("a write's sync token %q names no position", tok)
	}
	// Reads carrying the token see the write; reads spread over both replicas.
	for range 40 {
		g.req("GET", "/get/k", "", "Upstash-Sync-Token", tok).expect(t, 200, `{"result":"v"}`)
	}
	time.Sleep(300 * time.Millisecond)
	for range 40 {
		g.req("GET", "/get/k", "").expect(t, 200, `{"result":"v"}`)
	}
	c1, c2, cl := getCalls(t, g.r1), getCalls(t, g.r2), getCalls(t, g.leader)
	t.Logf("GETs: replica1 %s, replica2 %s, leader %s", c1, c2, cl)
	if c1 == "0" || c2 == "0" {
		t.Errorf("reads did not reach both replicas: %s, %s (leader %s)", c1, c2, cl)
	}
	// A pipeline with a write goes to the leader as a whole.
	g.req("POST", "/pipeline", `[["GET","k"],["INCR","n"],["GET","n"]]`).expect(t, 200, `[{"result":"v"},{"result":1},{"result":"1"}]`)
	g.req("GET", "/get/k", "", proxy.ConsistencyHeader, "sometimes").expect(t, 400, `{"error":"ERR consistency \"sometimes\": want eventual or strong"}`)
	// A token of a history the leader does not know is reported, and answered from the leader.
	r := g.req("GET", "/get/k", "", "Upstash-Sync-Token", "0123456789012345678901234567890123456789-99-1")
	if r.status != 200 || r.header.Get(proxy.SyncLostHeader) != "1" {
		t.Errorf("foreign token: %d %s, lost header %q", r.status, r.body, r.header.Get(proxy.SyncLostHeader))
	}
}

func TestReplicatedStrongWriteNotAcknowledged(t *testing.T) {
	g := startReplicatedGateway(t, replicaset.Eventual)
	g.req("GET", "/set/a/1", "", proxy.ConsistencyHeader, "strong").expect(t, 200, `{"result":"OK"}`)
	g.r1.Freeze()
	g.r2.Freeze()
	defer g.r1.Thaw()
	defer g.r2.Thaw()
	// Eventual writes do not wait for replicas.
	g.req("GET", "/set/b/1", "").expect(t, 200, `{"result":"OK"}`)
	r := g.req("GET", "/set/c/1", "", proxy.ConsistencyHeader, "strong")
	if r.status != 504 || !strings.HasPrefix(r.body, `{"error":"ERR write applied on the leader but not acknowledged by a replica in time`) {
		t.Errorf("strong write with replicas frozen: %d %s", r.status, r.body)
	}
}
