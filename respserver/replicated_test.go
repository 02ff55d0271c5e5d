package respserver_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/replicaset"
)

// TestReplicatedReadsSeeTheirWrites serves the database from a leader and a replica with
// eventual consistency: a connection's reads, which may go to the replica, always see that
// connection's own writes (the session keeps the position of its latest answer).
func TestReplicatedReadsSeeTheirWrites(t *testing.T) {
	leader := redistest.Start(t)
	replica := redistest.StartReplica(t, leader, "")
	set, err := replicaset.New(replicaset.Options{
		Leader: leader.URL(), Replicas: []string{replica.URL()}, Mode: replicaset.Eventual,
		AckTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 3*time.Second, func() bool {
		rs := set.Replicas()
		return len(rs) == 1 && rs[0].Healthy
	}, "replica healthy")
	l := start(t, func(s *setup) { s.redis, s.set = leader, set })
	c := l.client(rwToken, func(o *redis.Options) { o.PoolSize = 1 }) // one connection: one session
	ctx := context.Background()
	for i := range 300 {
		v := fmt.Sprint(i)
		if err := c.Set(ctx, "k", v, 0).Err(); err != nil {
			t.Fatal(err)
		}
		if got, err := c.Get(ctx, "k").Result(); err != nil || got != v {
			t.Fatalf("read %d after its write: %q %v", i, got, err)
		}
	}
}

// TestReplicatedWatch: on a leader with a replica (eventual reads, which may go to the
// replica), WATCH pins a connection to the leader, so the reads of a check-and-set loop see
// the latest value and no increment is lost under contention.
func TestReplicatedWatch(t *testing.T) {
	leader := redistest.Start(t)
	replica := redistest.StartReplica(t, leader, "")
	set, err := replicaset.New(replicaset.Options{
		Leader: leader.URL(), Replicas: []string{replica.URL()}, Mode: replicaset.Eventual, BlockingConns: 2,
		AckTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 3*time.Second, func() bool {
		rs := set.Replicas()
		return len(rs) == 1 && rs[0].Healthy
	}, "replica healthy")
	l := start(t, func(s *setup) { s.redis, s.set = leader, set })
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		c := l.client(rwToken, func(o *redis.Options) { o.PoolSize = 1 })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				if _, err := incrWatched(ctx, c, "ctr"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := leader.MustDo("GET", "ctr"); got != "100" {
		t.Errorf("counter on the leader: %v, want 100", got)
	}
}

// TestStrongModeRefusesWatch: a database in strong mode refuses WATCH clearly (a pinned
// connection's writes would not wait for a replica) and gives the pin back.
func TestStrongModeRefusesWatch(t *testing.T) {
	leader := redistest.Start(t)
	replica := redistest.StartReplica(t, leader, "")
	set, err := replicaset.New(replicaset.Options{
		Leader: leader.URL(), Replicas: []string{replica.URL()}, Mode: replicaset.Strong, BlockingConns: 2,
		AckTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	l := start(t, func(s *setup) { s.redis, s.set = leader, set; s.resp.MaxPins = 1 })
	r := l.raw(t)
	r.send("AUTH " + rwToken + "\r\n")
	r.line()
	for range 2 { // the second time, the first refusal's pin place is free again
		r.send("WATCH k\r\n")
		if got := r.line(); !strings.Contains(got, "strong consistency mode") {
			t.Fatalf("WATCH in strong mode: %s", got)
		}
	}
}
