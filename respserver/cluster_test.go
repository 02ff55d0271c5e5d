package respserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestClusterThroughTheListener: a Redis Cluster served as one database, used by a plain
// (non-cluster) go-redis client: keys of every slot, MSET/MGET and DEL across slots, a
// pipeline spread over the shards, a transaction and WATCH on one slot (hash tags), pub/sub.
func TestClusterThroughTheListener(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	l := start(t, func(s *setup) { s.cluster = rc })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := l.client(rwToken)
	direct := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(rc.Seeds(), ",")})
	defer direct.Close()

	var kv []any
	var keys []string
	for i := range 60 {
		keys = append(keys, fmt.Sprint("key", i))
		kv = append(kv, keys[i], fmt.Sprint("v", i))
	}
	if err := c.MSet(ctx, kv...).Err(); err != nil {
		t.Fatalf("MSET across slots: %v", err)
	}
	got, err := c.MGet(ctx, keys...).Result()
	if err != nil {
		t.Fatalf("MGET across slots: %v", err)
	}
	shards := map[int64]bool{}
	for i, k := range keys {
		if got[i] != fmt.Sprint("v", i) {
			t.Fatalf("MGET %s: %v", k, got[i])
		}
		v, err := direct.Get(ctx, k).Result()
		if err != nil || v != got[i] {
			t.Fatalf("the cluster has %s=%q %v", k, v, err)
		}
		slot, err := direct.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		shards[slot*3/16384] = true // StartCluster splits the slots evenly, in order
	}
	if len(shards) != 3 {
		t.Errorf("the keys fell on %d shards, want 3", len(shards))
	}
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			p.Append(ctx, k, "+")
			p.Get(ctx, keys[(i+7)%len(keys)])
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pipeline across slots: %v", err)
	}
	for i := range keys {
		j := (i + 7) % len(keys)
		want := fmt.Sprint("v", j)
		if j < i {
			want += "+"
		}
		if v := cmds[2*i+1].(*redis.StringCmd).Val(); v != want {
			t.Fatalf("pipelined GET %s: %q, want %q", keys[j], v, want)
		}
	}
	if n, err := c.Del(ctx, keys...).Result(); err != nil || n != int64(len(keys)) {
		t.Errorf("DEL across slots: %d %v", n, err)
	}
	// A transaction on one slot; across slots it is refused clearly.
	res, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "{user1}.name", "ada", 0)
		p.Incr(ctx, "{user1}.visits")
		return nil
	})
	if err != nil || res[1].(*redis.IntCmd).Val() != 1 {
		t.Errorf("MULTI on one slot: %v", err)
	}
	if _, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "a", 1, 0)
		p.Set(ctx, "b", 1, 0)
		return nil
	}); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("MULTI across slots: %v, want CROSSSLOT", err)
	}
	// WATCH of keys of several slots is refused; with a retry loop, on the primary of the
	// watched key's slot, it counts exactly.
	if err := c.Watch(ctx, func(*redis.Tx) error { return nil }, "a", "b"); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Errorf("WATCH across slots: %v, want CROSSSLOT", err)
	}
	var wg sync.WaitGroup
	for range 3 {
		cc := l.client(rwToken, func(o *redis.Options) { o.PoolSize = 1 })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := incrWatched(ctx, cc, "{ctr}"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if v, err := direct.Get(ctx, "{ctr}").Result(); err != nil || v != "60" {
		t.Errorf("counter after WATCH increments on the cluster: %q %v, want 60", v, err)
	}
	sub := c.Subscribe(ctx, "news")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	c.Publish(ctx, "news", "hi")
	if m, err := sub.ReceiveMessage(ctx); err != nil || m.Payload != "hi" {
		t.Errorf("pub/sub on the cluster: %v %v", m, err)
	}
}
