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

// TestStrongModeWatch: in strong mode a WATCHing client's writes, EXEC included, are answered
// once a replica acknowledged them (WAIT on the pinned connection): counts stay exact under
// contention, and with the replica frozen EXEC answers that the write was not acknowledged.
func TestStrongModeWatch(t *testing.T) {
	leader := redistest.Start(t)
	replica := redistest.StartReplica(t, leader, "")
	set, err := replicaset.New(replicaset.Options{
		Leader: leader.URL(), Replicas: []string{replica.URL()}, Mode: replicaset.Strong, BlockingConns: 2,
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
	for range 3 {
		c := l.client(rwToken, func(o *redis.Options) { o.PoolSize = 1 })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := incrWatched(ctx, c, "ctr"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := replica.MustDo("GET", "ctr"); got != "30" {
		t.Errorf("counter on the replica once every EXEC was answered: %v, want 30", got)
	}
	r := l.raw(t)
	r.send("AUTH " + rwToken + "\r\nWATCH k\r\n")
	readN(r, 2)
	replica.Freeze()
	defer replica.Thaw()
	r.send("MULTI\r\nSET k v\r\nEXEC\r\n")
	if got := strings.Join(readN(r, 3), " "); !strings.Contains(got, "not acknowledged by a replica") {
		t.Errorf("EXEC with the replica frozen: %s", got)
	}
}
