package poolstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/cluster"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/poolstore"
)

// userOn returns a user name whose quota keys fall in a slot of rc's i-th primary (slots
// split evenly, as StartCluster assigns them).
func userOn(rc *redistest.Cluster, i int, prefix string) string {
	n := len(rc.Primaries)
	for j := 0; ; j++ {
		u := fmt.Sprintf("%s%d", prefix, j)
		if s := cluster.Slot([]byte(u)); s >= i*cluster.Slots/n && s < (i+1)*cluster.Slots/n {
			return u
		}
	}
}

// TestLimiterOnCluster keeps the limiter's state on a Redis Cluster (3 primaries, a replica
// each) through the cluster client: rates and quotas hold for users whatever their names
// (braces and the empty name included: the script's two keys must share a slot), and through
// kill -9 of the primary holding a user's counters: while that shard fails over its
// decisions fail as configured (closed: denied; open: allowed, with the error), other shards
// keep deciding, and afterwards the counts go on from where they were.
func TestLimiterOnCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	cl, err := cluster.New(ctx, cluster.Options{Seeds: strings.Split(rc.Seeds(), ","),
		Node: pool.Options{Size: 2, DialTimeout: 200 * time.Millisecond, Logger: quiet}, Refresh: 200 * time.Millisecond, Logger: quiet})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	store := poolstore.New(cl)
	closed := ratelimit.NewLimiter(store, ratelimit.Options{Lease: -1, Timeout: 300 * time.Millisecond, FailClosed: true, Logger: quiet})
	open := ratelimit.NewLimiter(store, ratelimit.Options{Lease: -1, Timeout: 300 * time.Millisecond, Logger: quiet})
	bg := context.Background()

	q := ratelimit.Quota{Daily: 5, Monthly: 100}
	for _, u := range []string{"alice", "", "}", "{", "{x}", "a{b}c", "}{", "ünï code"} {
		for i := range 7 {
			d := closed.Charge(bg, u, q, 1)
			if d.Err != nil || d.Allowed != (i < 5) {
				t.Fatalf("user %q, command %d: %+v; want allowed for the first 5 only", u, i+1, d)
			}
		}
	}
	rate := ratelimit.Rate{Count: 3, Period: time.Hour, Burst: 3}
	for i := range 3 {
		if d := closed.Allow(bg, "ip", "ip:"+fmt.Sprint(i), rate); !d.Allowed || d.Err != nil {
			t.Fatalf("rate key %d: %+v", i, d)
		}
	}
	for i := range 4 {
		d := closed.Allow(bg, "ip", "ip:x", rate)
		if d.Err != nil || d.Allowed != (i < 3) {
			t.Fatalf("rate, request %d: %+v; want allowed for the first 3 only", i+1, d)
		}
	}
	used := 0
	for _, p := range rc.Primaries {
		if n := p.MustDo("DBSIZE").(int64); n > 0 {
			used++
		}
	}
	if used < 2 {
		t.Errorf("limiter keys on %d primaries: want them spread over the shards", used)
	}

	// Failover of the shard holding bob's counters.
	bob, carol := userOn(rc, 0, "bob"), userOn(rc, 1, "carol")
	for range 3 {
		if d := closed.Charge(bg, bob, q, 1); !d.Allowed || d.Err != nil {
			t.Fatalf("bob before the failover: %+v", d)
		}
	}
	p0, r0 := rc.Primaries[0], rc.Replicas[0][0]
	// Let the replica have bob's counts (replication is asynchronous: a write not replicated
	// when its primary dies is lost with it, as the README says).
	dayKey := "redisgate:rl:q:d:" + time.Now().UTC().Format("20060102") + ":{" + bob + "}"
	rs := r0.Session(t)
	rs.Do("READONLY")
	redistest.WaitFor(t, 5*time.Second, func() bool { v, _ := rs.Do("GET", dayKey); return v == "3" }, "bob's count on the replica")
	p0.Kill()
	start := time.Now()
	sawFailure, carolOK := false, 0
	for {
		d := closed.Charge(bg, bob, q, 1)
		if d.Err == nil {
			if !d.Allowed || d.Remaining != 1 {
				t.Fatalf("bob's 4th command after the failover: %+v; want allowed, 1 left", d)
			}
			break
		}
		sawFailure = true
		if d.Allowed {
			t.Fatalf("fail-closed limiter allowed bob while his shard was down: %+v", d)
		}
		if o := open.Charge(bg, bob, q, 0); !o.Allowed || o.Err == nil {
			t.Fatalf("fail-open limiter during the failover: %+v; want allowed with the error", o)
		}
		if c := closed.Charge(bg, carol, ratelimit.Quota{Daily: 1 << 40}, 1); c.Err != nil || !c.Allowed {
			t.Fatalf("carol, on a live shard, during the failover: %+v", c)
		}
		carolOK++
		if time.Since(start) > 20*time.Second {
			t.Fatalf("bob's shard still failing after %v: %v", time.Since(start), d.Err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("bob's shard failed over in %v; %d decisions of a live shard meanwhile", time.Since(start).Round(10*time.Millisecond), carolOK)
	if !sawFailure {
		t.Error("no decision failed while bob's primary was dead")
	}
	for i := range 2 {
		d := closed.Charge(bg, bob, q, 1)
		if d.Err != nil || d.Allowed != (i == 0) {
			t.Fatalf("bob's command %d after the failover: %+v", 5+i, d)
		}
	}
}
