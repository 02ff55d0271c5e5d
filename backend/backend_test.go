package backend_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/cache"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

// do runs one command through be as r says and returns its raw reply.
func do(t *testing.T, be backend.Backend, r backend.Route, args ...string) (string, backend.Result) {
	t.Helper()
	b := pool.NewBatch(1)
	defer b.Release()
	cmd := make([][]byte, len(args))
	for i, a := range args {
		cmd[i] = []byte(a)
	}
	b.Add(cmd...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	res, err := be.Do(ctx, b, r)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	if b.Len() != 1 {
		t.Fatalf("%v: the batch holds %d commands after Do, want 1", args, b.Len())
	}
	return string(b.Reply(0)), res
}

func open(t *testing.T, cfg backend.Config) *backend.Database {
	t.Helper()
	cfg.Logger = quiet
	cfg.Tenant.Size, cfg.Tenant.Logger = 2, quiet
	cfg.Own.Logger = quiet
	d, err := backend.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	return d
}

func TestSingleNode(t *testing.T) {
	rs := redistest.Start(t)
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	d := open(t, backend.Config{Tenant: o, Own: o, BlockingConns: 1, PubSub: true, Cache: &cache.Options{}})
	be := d.Backend
	if got, res := do(t, be, backend.Route{Write: true}, "SET", "k", "v"); got != "+OK\r\n" || !res.Pos.IsZero() {
		t.Errorf("write: %q %+v, want OK and no position", got, res)
	}
	if got, _ := do(t, be, backend.Route{}, "GET", "k"); got != "$1\r\nv\r\n" {
		t.Errorf("read: %q", got)
	}
	if got, _ := do(t, be, backend.Route{Blocking: true}, "BLPOP", "none", "0.05"); got != "*-1\r\n" {
		t.Errorf("blocking: %q, want a null array", got)
	}
	st := be.Stats()
	if !be.Ready() || !be.CanBlock() || be.Routes() || be.Mode() != backend.Eventual || st.Replicated || len(st.Nodes) != 1 ||
		st.Nodes[0].Addr != rs.Addr || st.Nodes[0].Pool.Connected != 2 || st.Nodes[0].Pool.Batches < 2 || st.Nodes[0].Blocking != 1 {
		t.Errorf("stats %+v ready %v", st, be.Ready())
	}
	if d.PubSub == nil || d.Cache == nil || d.Leader() != rs.Addr {
		t.Errorf("parts: hub %v cache %v leader %s", d.PubSub, d.Cache, d.Leader())
	}
	if err := d.KillScripts(context.Background()); err != nil {
		t.Errorf("kill with nothing running: %v", err)
	}
	noBlock := open(t, backend.Config{Tenant: o, Own: o})
	b := pool.NewBatch(1)
	b.Add([]byte("BLPOP"), []byte("l"), []byte("0"))
	if _, err := noBlock.Backend.Do(context.Background(), b, backend.Route{Blocking: true}); !errors.Is(err, backend.ErrNoBlocking) || !errors.Is(err, pool.ErrUnavailable) {
		t.Errorf("blocking without dedicated connections: %v", err)
	}
}

func TestReplicated(t *testing.T) {
	leader := redistest.Start(t)
	replica := redistest.StartReplica(t, leader, "")
	o, err := pool.ParseURL(leader.URL())
	if err != nil {
		t.Fatal(err)
	}
	d := open(t, backend.Config{Tenant: o, Own: o, Leader: leader.URL(), Replicas: []string{replica.URL()}, AckTimeout: time.Second})
	be := d.Backend
	redistest.WaitFor(t, 5*time.Second, func() bool { st := be.Stats(); return be.Ready() && st.Nodes[1].Healthy }, "replica healthy")
	_, w := do(t, be, backend.Route{Write: true}, "SET", "k", "v1")
	if w.Pos.IsZero() || w.Pos.Offset == 0 {
		t.Fatalf("write position %+v, want the leader's", w.Pos)
	}
	if got, r := do(t, be, backend.Route{After: w.Pos}, "GET", "k"); got != "$2\r\nv1\r\n" || r.Pos.Offset < w.Pos.Offset {
		t.Errorf("read after the write's position: %q at %+v", got, r.Pos)
	}
	if _, w2 := do(t, be, backend.Route{Write: true, Mode: backend.Strong}, "SET", "k", "v2"); w2.Pos.Offset <= w.Pos.Offset {
		t.Errorf("strong write at %+v, after %+v", w2.Pos, w.Pos)
	}
	st := be.Stats()
	if !be.Routes() || !st.Replicated || len(st.Nodes) != 2 || st.Nodes[0].Addr != leader.Addr || !st.Nodes[0].Leader || st.Nodes[1].Addr != replica.Addr ||
		st.Nodes[0].Pool.Batches == 0 || st.Nodes[1].Pool.Connected == 0 {
		t.Errorf("stats %+v", st)
	}
	if d.Leader() != leader.Addr || len(d.Nodes()) != 2 || be.Position().ReplID != w.Pos.ReplID {
		t.Errorf("leader %s nodes %v position %+v", d.Leader(), d.Nodes(), be.Position())
	}
	// A pool of the gateway's own reaches the leader, whatever address it was given.
	lo := o
	lo.Addr, lo.Size, lo.Logger = "127.0.0.1:1", 1, quiet
	p := d.NewPool(lo)
	redistest.WaitFor(t, 3*time.Second, func() bool { return p.Connected() == 1 }, "the limiter pool on the leader")
	if p.Addr() != leader.Addr {
		t.Errorf("own pool at %s, want the leader %s", p.Addr(), leader.Addr)
	}
}
