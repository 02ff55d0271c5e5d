package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
)

// TestParseShards reads a CLUSTER SHARDS reply as Redis 7 writes it: ranges, primaries, only
// the online replicas, the node asked standing for an empty IP, the TLS port when asked.
func TestParseShards(t *testing.T) {
	node := func(ip string, port int, role, health string, extra ...any) any {
		n := []any{"id", "x", "port", int64(port), "ip", ip, "endpoint", ip, "role", role, "replication-offset", int64(7), "health", health}
		return append(n, extra...)
	}
	reply := []any{
		[]any{"slots", []any{int64(0), int64(99), int64(200), int64(299)}, "nodes", []any{
			node("10.0.0.1", 7000, "master", "online"),
			node("10.0.0.2", 7000, "replica", "online"),
			node("10.0.0.3", 7000, "replica", "loading"),
			node("10.0.0.4", 7000, "replica", "failed"),
		}},
		[]any{"slots", []any{int64(100), int64(199)}, "nodes", []any{
			node("", 7001, "master", "online", "tls-port", int64(8001)),
		}},
		[]any{"slots", []any{}, "nodes", []any{node("10.0.0.9", 7000, "master", "online")}},
	}
	raw := encode(reply)
	tp, err := parseShards(raw, "10.9.9.9", false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(tp.addrs, []string{"10.0.0.1:7000", "10.9.9.9:7001"}) || !slices.Equal(tp.replicas[0], []string{"10.0.0.2:7000"}) || len(tp.replicas[1]) != 0 {
		t.Errorf("primaries %v replicas %v", tp.addrs, tp.replicas)
	}
	for _, c := range []struct {
		slot int
		want string
	}{{0, "10.0.0.1:7000"}, {99, "10.0.0.1:7000"}, {100, "10.9.9.9:7001"}, {250, "10.0.0.1:7000"}, {300, ""}} {
		if got := tp.addr(c.slot); got != c.want {
			t.Errorf("slot %d: %q, want %q", c.slot, got, c.want)
		}
	}
	if tp, err = parseShards(raw, "10.9.9.9", true); err != nil || tp.addrs[1] != "10.9.9.9:8001" {
		t.Errorf("with TLS: %v %v", tp.addrs, err)
	}
	for _, bad := range []any{
		"OK",
		[]any{[]any{"slots", []any{int64(0)}, "nodes", []any{}}},
		[]any{[]any{"slots", []any{int64(0), int64(20000)}, "nodes", []any{node("a", 1, "master", "online")}}},
		[]any{[]any{"slots", []any{int64(0), int64(1)}, "nodes", []any{node("a", 1, "replica", "online")}}},
		[]any{[]any{"slots", []any{int64(0), int64(1)}, "nodes", []any{node("a", 0, "master", "online")}}},
	} {
		if _, err := parseShards(encode(bad), "h", false); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestShardsMatchSlots loads the slot map of a real cluster (3 shards × 1 replica) from
// CLUSTER SHARDS and from CLUSTER SLOTS: the same primaries, owners and replicas.
func TestShardsMatchSlots(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := New(ctx, Options{Seeds: []string{rc.Primaries[0].Addr}, Node: pool.Options{Logger: slog.New(slog.DiscardHandler)}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.noShards.Load() {
		t.Fatal("CLUSTER SHARDS refused by Redis 7")
	}
	describe := func(tp *topology) string {
		var out []string
		for i, a := range tp.addrs {
			rs := slices.Clone(tp.replicas[i])
			slices.Sort(rs)
			out = append(out, fmt.Sprintf("%s%v", a, rs))
		}
		slices.Sort(out)
		for s := range Slots {
			if s%1024 == 0 || s == Slots-1 {
				out = append(out, fmt.Sprintf("%d:%s", s, tp.addr(s)))
			}
		}
		return strings.Join(out, " ")
	}
	var fromShards, fromSlots string
	for range 50 { // the nodes' views of the replicas converge through gossip
		c.noShards.Store(false)
		shards, err := c.slotsOf(ctx, rc.Primaries[1].Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.noShards.Store(true)
		slots, err := c.slotsOf(ctx, rc.Primaries[1].Addr)
		if err != nil {
			t.Fatal(err)
		}
		fromShards, fromSlots = describe(shards), describe(slots)
		if len(shards.addrs) == 3 && fromShards == fromSlots && strings.Count(fromShards, "[127") == 3 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("CLUSTER SHARDS gave %s\nCLUSTER SLOTS %s", fromShards, fromSlots)
}

// encode writes v (arrays, strings as bulk strings, integers) as RESP2.
func encode(v any) []byte {
	switch x := v.(type) {
	case []any:
		out := fmt.Appendf(nil, "*%d\r\n", len(x))
		for _, e := range x {
			out = append(out, encode(e)...)
		}
		return out
	case int64:
		return fmt.Appendf(nil, ":%d\r\n", x)
	case string:
		return fmt.Appendf(nil, "$%d\r\n%s\r\n", len(x), x)
	}
	panic(fmt.Sprintf("encode %T", v))
}
