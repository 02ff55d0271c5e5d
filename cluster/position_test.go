package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/cluster"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/replicaset"
)

// doAt runs one command as req asks and returns its raw reply and the position answered.
func doAt(t *testing.T, c *cluster.Cluster, req cluster.Request, args ...string) (string, cluster.Position) {
	t.Helper()
	b := pool.NewBatch(1)
	defer b.Release()
	var a [][]byte
	for _, s := range args {
		a = append(a, []byte(s))
	}
	b.Add(a...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pos, err := c.DoAt(ctx, b, req)
	if err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return string(b.Reply(0)), pos
}

// TestReadYourWritesAcrossShards writes through a cluster client with replica reads (3
// shards, a replica each) while the replicas are made to lag (paused for writes
// 60 ms of every 100: CLIENT PAUSE WRITE stops a replica applying its replication stream while
// it still answers reads), and reads each write back at
// once with the position it answered, from the same shard and from another: no read misses
// the write its position names, replicas still serve the reads that they can, and positions
// that name no primary (forged, another shard's) send reads to the primaries.
func TestReadYourWritesAcrossShards(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := cluster.New(ctx, cluster.Options{Seeds: []string{rc.Primaries[0].Addr},
		Node: pool.Options{Size: 2, Logger: slog.New(slog.DiscardHandler)}, Refresh: time.Second,
		ReplicaReads: true, Logger: slog.New(slog.DiscardHandler)})
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			for _, rs := range rc.Replicas {
				// A replica paused for writes applies no more of its replication stream,
				// and still serves reads.
				if _, err := rs[0].Do("CLIENT", "PAUSE", "60", "WRITE"); err != nil {
					t.Errorf("CLIENT PAUSE on a replica: %v", err)
					return
				}
			}
		}
	}()
	keys := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	counts := map[string]int{}
	staleWithout, stale := 0, 0
	for i := range 300 {
		k := keys[i%len(keys)]
		other := keys[(i+3)%len(keys)]
		reply, pos := doAt(t, c, cluster.Request{}, "INCR", k)
		counts[k]++
		if want := ":" + strconv.Itoa(counts[k]) + "\r\n"; reply != want {
			t.Fatalf("INCR %s: %q, want %q", k, reply, want)
		}
		if pos.IsZero() || pos == cluster.Pinned || len(pos.ReplID) != 40 {
			t.Fatalf("INCR %s answered position %+v", k, pos)
		}
		// The position survives the trip through a sync token.
		tok, ok := replicaset.ParseToken(replicaset.Position(pos).Token(uint64(i)))
		if !ok || cluster.Position(tok) != pos {
			t.Fatalf("position %+v through a token: %+v %v", pos, tok, ok)
		}
		for _, key := range []string{k, other} {
			want := ":" + strconv.Itoa(counts[key]) + "\r\n"
			if counts[key] == 0 {
				want = "$-1\r\n"
			}
			got, after := doAt(t, c, cluster.Request{After: cluster.Position(tok)}, "GET", key)
			if after != pos {
				t.Errorf("a read answered position %+v, want its token's %+v", after, pos)
			}
			if got != want && !sameInt(got, want) {
				stale++
				t.Errorf("GET %s with the position of INCR %s: %q, want %q", key, k, got, want)
			}
		}
		if got, _ := doAt(t, c, cluster.Request{}, "GET", k); !sameInt(got, ":"+strconv.Itoa(counts[k])+"\r\n") {
			staleWithout++
		}
	}
	close(stop)
	wg.Wait()
	st := c.Stats()
	t.Logf("0 stale of 600 reads with a position; %d stale of 300 without; stats %+v", staleWithout, st)
	if stale != 0 {
		t.Errorf("%d stale reads with a position", stale)
	}
	if st.Lagged == 0 {
		t.Errorf("no read found its replica behind: the replicas did not lag (stats %+v)", st)
	}
	if st.ReplicaReads == 0 {
		t.Errorf("no read served by a replica (stats %+v)", st)
	}

	// Forged positions: an unknown history, a real one with an offset far ahead, Pinned.
	doAt(t, c, cluster.Request{}, "SET", "forged", "v")
	_, real := doAt(t, c, cluster.Request{}, "SET", "forged", "w")
	before := c.Stats()
	for _, p := range []cluster.Position{
		{ReplID: strings.Repeat("f", 40), Offset: 0},
		{ReplID: real.ReplID, Offset: 1 << 62},
		cluster.Pinned,
	} {
		if got, _ := doAt(t, c, cluster.Request{After: p}, "GET", "forged"); got != "$1\r\nw\r\n" {
			t.Errorf("GET with position %+v: %q", p, got)
		}
	}
	// A request asking for strong consistency reads from the primary, position or not.
	if got, _ := doAt(t, c, cluster.Request{Primary: true}, "GET", "forged"); got != "$1\r\nw\r\n" {
		t.Errorf("GET on the primary: %q", got)
	}
	if after := c.Stats(); after.ReplicaReads != before.ReplicaReads {
		t.Errorf("a replica answered a read carrying a position it cannot show, or asking for the primary: %+v then %+v", before, after)
	}
}

// sameInt reports whether a GET reply (bulk string) and an INCR reply (integer) carry the
// same number.
func sameInt(bulk, integer string) bool {
	n := strings.TrimSuffix(strings.TrimPrefix(integer, ":"), "\r\n")
	return bulk == fmt.Sprintf("$%d\r\n%s\r\n", len(n), n)
}
