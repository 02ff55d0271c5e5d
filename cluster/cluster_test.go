package cluster_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redisgate/redisgate/cluster"
	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func open(t *testing.T, rc *redistest.Cluster) *cluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := cluster.New(ctx, cluster.Options{
		Seeds:   []string{rc.Primaries[0].Addr},
		Node:    pool.Options{Size: 2, Logger: slog.New(slog.DiscardHandler)},
		Refresh: 200 * time.Millisecond,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// do runs the commands (space-separated arguments) as one batch and returns the raw replies.
func do(t *testing.T, c *cluster.Cluster, cmds ...string) []string {
	t.Helper()
	b := pool.NewBatch(len(cmds))
	for _, cmd := range cmds {
		var args [][]byte
		for _, f := range strings.Fields(cmd) {
			args = append(args, []byte(f))
		}
		b.Add(args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Do(ctx, b); err != nil {
		t.Fatalf("%q: %v", cmds, err)
	}
	out := make([]string, len(cmds))
	for i := range cmds {
		out[i] = string(b.Reply(i))
	}
	b.Release()
	return out
}

func expect(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("replies %q, want %q", got, want)
	}
}

// TestPipelineAcrossPrimaries sends one batch whose keys live on all three primaries: every
// reply comes back in request order, and each key is on the primary that owns its slot.
func TestPipelineAcrossPrimaries(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	c := open(t, rc)
	if n := len(c.Primaries()); n != 3 {
		t.Fatalf("%d primaries, want 3", n)
	}
	var cmds, want []string
	for i := range 60 {
		cmds = append(cmds, fmt.Sprintf("SET k%d v%d", i, i), fmt.Sprintf("GET k%d", i), "PING")
		want = append(want, "+OK\r\n", fmt.Sprintf("$%d\r\nv%d\r\n", len(fmt.Sprint(i))+1, i), "+PONG\r\n")
	}
	expect(t, do(t, c, cmds...), want...)
	for i := range 60 {
		k := fmt.Sprintf("k%d", i)
		owner := rc.Primaries[cluster.Slot([]byte(k))*3/cluster.Slots]
		if v, err := owner.Do("GET", k); err != nil || v != fmt.Sprintf("v%d", i) {
			t.Errorf("%s on its primary %s: %v %v", k, owner.Addr, v, err)
		}
	}
}

// TestMultiKeyCommandsSplit runs MGET, MSET, DEL, EXISTS, TOUCH and UNLINK over keys of
// every primary: they are split per slot and merged as one node would answer; a multi-key
// command the gateway does not split gets CROSSSLOT.
func TestMultiKeyCommandsSplit(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	c := open(t, rc)
	expect(t, do(t, c, "MSET a 1 b 2 c 3 d 4 {a}x 5"), "+OK\r\n")
	expect(t, do(t, c, "MGET a b nope c d {a}x"), "*6\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5\r\n")
	expect(t, do(t, c, "EXISTS a b nope c a", "TOUCH a b c", "DEL a b nope", "UNLINK c d"), ":4\r\n", ":3\r\n", ":2\r\n", ":2\r\n")
	expect(t, do(t, c, "MGET a b {a}x"), "*3\r\n$-1\r\n$-1\r\n$1\r\n5\r\n")
	expect(t, do(t, c, "RENAME a b", "SUNIONSTORE a b c", "MSETNX a 1 b 2"),
		"-CROSSSLOT Keys in request don't hash to the same slot\r\n",
		"-CROSSSLOT Keys in request don't hash to the same slot\r\n",
		"-CROSSSLOT Keys in request don't hash to the same slot\r\n")
	expect(t, do(t, c, "RENAME {a}x {a}y", "GET {a}y"), "+OK\r\n", "$1\r\n5\r\n")
}

// TestTransactions runs a transaction on one slot through the gateway, and one across slots,
// which is answered as Redis Cluster answers it without being sent.
func TestTransactions(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	c := open(t, rc)
	expect(t, do(t, c, "MULTI", "INCR {u}n", "INCR {u}n", "GET {u}n", "EXEC"),
		"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "*3\r\n:1\r\n:2\r\n$1\r\n2\r\n")
	expect(t, do(t, c, "MULTI", "SET a 1", "SET b 2", "EXEC"),
		"+OK\r\n", "+QUEUED\r\n", "-CROSSSLOT Keys in request don't hash to the same slot\r\n",
		"-EXECABORT Transaction discarded because of previous errors.\r\n")
	if v, _ := rc.Primaries[2].Do("EXISTS", "a"); v != int64(0) {
		t.Errorf("the aborted transaction wrote a: %v", v)
	}
}

// TestMovedAndAsk moves a slot holding keys from one primary to another by hand while a
// client keeps using its keys: during the migration the gateway follows ASK, after it MOVED
// (its map is stale until the refresh), and no reply is an error or out of order.
func TestMovedAndAsk(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	c := open(t, rc)
	const key = "a" // slot 15495, on the third primary
	slot := cluster.Slot([]byte(key))
	src, dst := rc.Primaries[2], rc.Primaries[0]
	for i := range 20 {
		do(t, c, fmt.Sprintf("SET {a}%d %d", i, i))
	}
	srcID, dstID := src.MustDo("CLUSTER", "MYID").(string), dst.MustDo("CLUSTER", "MYID").(string)
	dst.MustDo("CLUSTER", "SETSLOT", strconv.Itoa(slot), "IMPORTING", srcID)
	src.MustDo("CLUSTER", "SETSLOT", strconv.Itoa(slot), "MIGRATING", dstID)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var errs []string
	var mu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			k := fmt.Sprintf("{a}%d", n%20)
			got := do(t, c, "INCR {a}counter", "GET "+k, "SET {a}new"+strconv.Itoa(n)+" x")
			if got[0][0] != ':' || got[1] != fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(n%20)), n%20) || got[2] != "+OK\r\n" {
				mu.Lock()
				errs = append(errs, fmt.Sprint(got))
				mu.Unlock()
			}
		}
	}()
	// Migrate the keys one at a time, as redis-cli --cluster reshard does.
	host, port, _ := strings.Cut(dst.Addr, ":")
	for {
		keys := src.MustDo("CLUSTER", "GETKEYSINSLOT", strconv.Itoa(slot), "5").([]any)
		if len(keys) == 0 {
			break
		}
		for _, k := range keys {
			if _, err := src.Do("MIGRATE", host, port, k.(string), "0", "5000"); err != nil {
				t.Fatalf("MIGRATE %v: %v", k, err)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, n := range rc.Primaries {
		n.MustDo("CLUSTER", "SETSLOT", strconv.Itoa(slot), "NODE", dstID)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d batches answered wrongly during the move, e.g. %s", len(errs), errs[0])
	}
	if v, err := dst.Do("GET", "{a}counter"); err != nil || v == nil {
		t.Errorf("counter on the new owner: %v %v", v, err)
	}
	got := do(t, c, "GET {a}0")
	expect(t, got, "$1\r\n0\r\n")
	st := c.Stats()
	t.Logf("redirections followed: %+v", st)
	if st.Asked == 0 || st.Moved == 0 {
		t.Errorf("the move was not seen through both redirections: %+v", st)
	}
}

// TestKeyspaceCommands runs the commands that act on the whole keyspace or on every node:
// DBSIZE sums, KEYS unites, SCAN walks every primary with one cursor, RANDOMKEY finds a key
// wherever it is, SCRIPT LOAD reaches every primary (EVALSHA then works for keys of any
// slot), SCRIPT EXISTS holds only where every primary has the script, FLUSHDB empties all.
func TestKeyspaceCommands(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	c := open(t, rc)
	expect(t, do(t, c, "RANDOMKEY"), "$-1\r\n")
	var sets []string
	want := map[string]bool{}
	for i := range 300 {
		sets = append(sets, fmt.Sprintf("SET key:%d x", i))
		want[fmt.Sprintf("key:%d", i)] = true
	}
	do(t, c, sets...)
	expect(t, do(t, c, "DBSIZE"), ":300\r\n")
	if r := do(t, c, "KEYS key:*")[0]; !strings.HasPrefix(r, "*300\r\n") {
		t.Errorf("KEYS: %.40q", r)
	}
	if r := do(t, c, "RANDOMKEY")[0]; !strings.Contains(r, "key:") {
		t.Errorf("RANDOMKEY: %q", r)
	}
	seen := map[string]bool{}
	cursor, rounds := "0", 0
	for {
		r := do(t, c, "SCAN "+cursor+" COUNT 50")[0]
		v, _, err := redistest.Decode([]byte(r))
		if err != nil {
			t.Fatalf("SCAN %s: %v", cursor, err)
		}
		pair := v.([]any)
		for _, k := range pair[1].([]any) {
			seen[k.(string)] = true
		}
		cursor = pair[0].(string)
		if rounds++; cursor == "0" || rounds > 1000 {
			break
		}
	}
	if len(seen) != 300 || cursor != "0" {
		t.Errorf("SCAN saw %d of 300 keys in %d rounds, cursor %s", len(seen), rounds, cursor)
	}
	sha := strings.Split(do(t, c, "SCRIPT LOAD return(redis.call('get',KEYS[1]))")[0], "\r\n")[1]
	expect(t, do(t, c, "SET a 1", "SET b 2", "EVALSHA "+sha+" 1 a", "EVALSHA "+sha+" 1 b"), "+OK\r\n", "+OK\r\n", "$1\r\n1\r\n", "$1\r\n2\r\n")
	for _, n := range rc.Primaries {
		if v, _ := n.Do("SCRIPT", "EXISTS", sha); fmt.Sprint(v) != "[1]" {
			t.Errorf("script not on %s: %v", n.Addr, v)
		}
	}
	rc.Primaries[1].MustDo("SCRIPT", "FLUSH")
	// The gateway keeps the body: SCRIPT EXISTS says 1 since an EVALSHA runs (below); a
	// script no primary has and whose body it does not keep is 0.
	expect(t, do(t, c, "SCRIPT EXISTS "+sha+" ffffffffffffffffffffffffffffffffffffffff"), "*2\r\n:1\r\n:0\r\n")
	// An EVALSHA on the node that lost the script loads it there again and runs.
	var onSecond string
	for i := 0; onSecond == ""; i++ {
		if k := fmt.Sprintf("key:%d", i); cluster.Slot([]byte(k))*3/cluster.Slots == 1 {
			onSecond = k
		}
	}
	expect(t, do(t, c, "EVALSHA "+sha+" 1 "+onSecond), "$1\r\nx\r\n")
	if st := c.Stats(); st.ScriptsLoaded != 1 {
		t.Errorf("scripts loaded again: %d, want 1", st.ScriptsLoaded)
	}
	expect(t, do(t, c, "FLUSHDB"), "+OK\r\n")
	expect(t, do(t, c, "DBSIZE"), ":0\r\n")
	// An empty cluster: one empty page per primary (SCAN may return empty pages), then 0.
	expect(t, do(t, c, "SCAN 0", "SCAN 1", "SCAN 2"), "*2\r\n$1\r\n1\r\n*0\r\n", "*2\r\n$1\r\n2\r\n*0\r\n", "*2\r\n$1\r\n0\r\n*0\r\n")
}

// TestFailover kills -9 the primary of one shard under strong (WAIT 1) INCRs to two shards:
// the dead shard's writes fail until a replica takes over and the other replica follows it
// (two replicas per shard: a strong write needs one to acknowledge it), for at most
// cluster-node-timeout + 3 s; the other shard's writes never fail; no acknowledged INCR is
// missing afterwards.
func TestFailover(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := cluster.New(ctx, cluster.Options{
		Seeds: []string{rc.Primaries[1].Addr, rc.Primaries[2].Addr},
		Node: pool.Options{Size: 2, AckReplicas: 1, AckTimeout: 2 * time.Second, DialTimeout: 300 * time.Millisecond,
			ReplyTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// "a" is on the third primary (slot 15495), "b" (slot 3300) on the first.
	incr := func(key string) error {
		b := pool.NewBatch(1)
		b.Add([]byte("INCR"), []byte(key))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		defer b.Release()
		if err := c.Do(ctx, b); err != nil {
			return err
		}
		if r := b.Reply(0); r[0] != ':' {
			return fmt.Errorf("%q", r)
		}
		return nil
	}
	var acked = map[string]int{}
	var otherErrs int
	var downFrom, downTo time.Time
	killed := false
	start := time.Now()
	afterUp := 0 // INCRs of a acknowledged after the failover
	for n := 0; (n < 5000 || afterUp < 1000) && time.Since(start) < 60*time.Second; n++ {
		if n == 1000 {
			rc.Primaries[2].Kill()
			killed = true
		}
		if err := incr("b"); err != nil {
			if otherErrs++; otherErrs <= 3 {
				t.Logf("b: %v", err)
			}
		} else {
			acked["b"]++
		}
		switch err := incr("a"); {
		case err == nil:
			acked["a"]++
			if !downFrom.IsZero() && downTo.IsZero() {
				downTo = time.Now()
			}
			if !downTo.IsZero() {
				afterUp++
			}
		case killed && downFrom.IsZero():
			downFrom = time.Now()
			t.Logf("a after the kill: %v", err)
		case !downTo.IsZero():
			t.Errorf("a failed again after the failover: %v", err)
		case !killed:
			t.Fatalf("a before the kill: %v", err)
		}
	}
	if downFrom.IsZero() || downTo.IsZero() {
		t.Fatalf("the dead shard's writes: failing from %v, back at %v", downFrom, downTo)
	}
	gap := downTo.Sub(downFrom)
	t.Logf("writes to the killed shard refused for %v (node timeout %v); %d + %d INCRs acknowledged; %d errors on the other shard",
		gap, redistest.ClusterNodeTimeout, acked["a"], acked["b"], otherErrs)
	if gap > redistest.ClusterNodeTimeout+3*time.Second {
		t.Errorf("writes refused for %v, more than node timeout + 3 s", gap)
	}
	if otherErrs != 0 {
		t.Errorf("%d errors on the shard that did not fail", otherErrs)
	}
	var promoted *redistest.Server
	for _, r := range rc.Replicas[2] {
		if v, _ := r.Do("ROLE"); fmt.Sprint(v.([]any)[0]) == "master" {
			promoted = r
		}
	}
	if promoted == nil {
		t.Fatal("no replica of the killed primary was promoted")
	}
	if v, err := promoted.Do("GET", "a"); err != nil || !atLeast(v, acked["a"]) {
		t.Errorf("a on the promoted replica: %v %v, want at least the %d acknowledged", v, err, acked["a"])
	}
	if v, err := rc.Primaries[0].Do("GET", "b"); err != nil || v != strconv.Itoa(acked["b"]) {
		t.Errorf("b: %v %v, want %d", v, err, acked["b"])
	}
}

// atLeast reports whether the string v is an integer of at least n (an INCR whose reply was
// lost with the connection may have run).
func atLeast(v any, n int) bool {
	s, _ := v.(string)
	i, err := strconv.Atoi(s)
	return err == nil && i >= n
}

// TestReshardUnderLoad moves 1,200 slots holding keys from the first primary to a fourth one
// added while 50 clients run GET, SET, INCR, MGET and pipelines through the Cluster: no
// client sees an error or a wrong value, every acknowledged INCR is in the final counts, and
// the new primary serves its slots without a restart of anything.
func TestReshardUnderLoad(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	c := open(t, rc)
	// Keys in the slots to move: slot 0 to 1,199 are the first primary's.
	var fill []string
	for i := range 3000 {
		fill = append(fill, fmt.Sprintf("SET fill:%d %d", i, i))
	}
	do(t, c, fill...)

	const clients = 50
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	incrs := make([]int, clients)
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				time.Sleep(2 * time.Millisecond) // a bounded load: about 25 batches/s per client at most
				i := (w*7919 + n*31) % 3000
				k := fmt.Sprintf("fill:%d", i)
				cmds := []string{"GET " + k, fmt.Sprintf("INCR counter:%d", w), fmt.Sprintf("MGET fill:%d fill:%d %s", (i+1)%3000, (i+2)%3000, k),
					fmt.Sprintf("SET own:%d:%d x", w, n%50)}
				b := pool.NewBatch(len(cmds))
				for _, cmd := range cmds {
					var args [][]byte
					for _, f := range strings.Fields(cmd) {
						args = append(args, []byte(f))
					}
					b.Add(args...)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := c.Do(ctx, b)
				cancel()
				if err != nil {
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					b.Release()
					continue
				}
				want := fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(i)), i)
				incr := string(b.Reply(1))
				ok := string(b.Reply(0)) == want && strings.HasPrefix(incr, ":") && strings.HasSuffix(string(b.Reply(2)), want) &&
					strings.HasPrefix(string(b.Reply(2)), "*3\r\n") && string(b.Reply(3)) == "+OK\r\n"
				if ok {
					incrs[w]++
				} else {
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%q %q %q %q", b.Reply(0), b.Reply(1), b.Reply(2), b.Reply(3)))
					mu.Unlock()
				}
				b.Release()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	fourth := rc.AddPrimary(t)
	start := time.Now()
	rc.MoveSlots(t, rc.Primaries[0], fourth, 0, 1199)
	moved := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	st := c.Stats()
	total := 0
	for _, n := range incrs {
		total += n
	}
	t.Logf("1,200 slots moved in %v under %d clients (%d batches of 4 answered right); redirections: %+v", moved, clients, total, st)
	if len(bad) > 0 {
		t.Fatalf("%d batches failed or were answered wrongly, e.g. %s", len(bad), bad[0])
	}
	for w := range clients {
		v := do(t, c, fmt.Sprintf("GET counter:%d", w))[0]
		if want := fmt.Sprintf("$%d\r\n%d\r\n", len(strconv.Itoa(incrs[w])), incrs[w]); incrs[w] > 0 && v != want {
			t.Errorf("counter:%d is %q, %d INCRs acknowledged", w, v, incrs[w])
		}
	}
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Primaries()); n != 4 {
		t.Errorf("%d primaries after the move, want 4", n)
	}
	if v, _ := fourth.Do("DBSIZE"); v == int64(0) {
		t.Errorf("the new primary holds no key")
	}
}

// TestBlocking runs BLPOP through the Cluster's blocking runner on keys of two primaries: each
// waits on its own primary and wakes when another client pushes; keys in two slots get CROSSSLOT.
func TestBlocking(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 0)
	c := open(t, rc)
	bl := c.Blocking()
	got := make(chan string, 2)
	for _, k := range []string{"a", "b"} {
		go func() {
			b := pool.NewBatch(1)
			b.Add([]byte("BLPOP"), []byte(k), []byte("5"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := bl.Do(ctx, b); err != nil {
				got <- err.Error()
				return
			}
			got <- string(b.Reply(0))
			b.Release()
		}()
	}
	time.Sleep(300 * time.Millisecond)
	do(t, c, "RPUSH a 1", "RPUSH b 2")
	replies := []string{<-got, <-got}
	slices.Sort(replies)
	expect(t, replies, "*2\r\n$1\r\na\r\n$1\r\n1\r\n", "*2\r\n$1\r\nb\r\n$1\r\n2\r\n")
	b := pool.NewBatch(1)
	b.Add([]byte("BLPOP"), []byte("a"), []byte("b"), []byte("1"))
	if err := bl.Do(context.Background(), b); err != nil || !strings.HasPrefix(string(b.Reply(0)), "-CROSSSLOT") {
		t.Errorf("BLPOP over two slots: %v %q", err, b.Replies())
	}
}

// TestReplicaReads serves read-only batches from the shards' replicas (READONLY connections)
// and everything else from the primaries; with a replica killed, its shard's reads fall back
// to the primary.
func TestReplicaReads(t *testing.T) {
	rc := redistest.StartCluster(t, 3, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := cluster.New(ctx, cluster.Options{
		Seeds:        []string{rc.Primaries[0].Addr},
		Node:         pool.Options{Size: 1, DialTimeout: 300 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)},
		ReplicaReads: true,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	do(t, c, "SET a 1", "SET b 2")
	redistest.WaitFor(t, 5*time.Second, func() bool {
		return do(t, c, "GET a")[0] == "$1\r\n1\r\n" && do(t, c, "GET b")[0] == "$1\r\n2\r\n"
	}, "the writes on the replicas")
	before := rc.Replicas[2][0].MustDo("INFO", "commandstats")
	expect(t, do(t, c, "GET a", "STRLEN a"), "$1\r\n1\r\n", ":1\r\n")
	after := rc.Replicas[2][0].MustDo("INFO", "commandstats")
	if before == after {
		t.Errorf("the replica of a's shard ran no command")
	}
	if st := c.Stats(); st.ReplicaReads == 0 {
		t.Errorf("no batch read from a replica: %+v", st)
	}
	expect(t, do(t, c, "GET a", "INCR n"), "$1\r\n1\r\n", ":1\r\n") // a write: the primary
	rc.Replicas[2][0].Kill()
	for range 3 {
		expect(t, do(t, c, "GET a"), "$1\r\n1\r\n")
	}
	if st := c.Stats(); st.ReplicaFallbacks == 0 {
		t.Errorf("reads of the shard whose replica died did not fall back to its primary: %+v", st)
	}
}
