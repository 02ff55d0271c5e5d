package replicaset

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// node is one Redis server of the set and what the monitor last learnt of it.
type node struct {
	addr   string
	pool   *pool.Pool      // multiplexed connections
	strong *pool.Pool      // leader only: acknowledged-write connections
	block  *pool.Dedicated // leader only: connections for blocking commands
	state  atomic.Pointer[state]
	replID atomic.Pointer[string] // master_replid of the last probe that got one
	reads  atomic.Int64           // reads served, for tests and metrics
	region string                 // the operator's label (Options.Regions); "" unknown
	rtt    atomic.Int64           // EWMA of the probes' round trips, in ns; 0 until a probe succeeds after a failure
}

// ewmaWeight is the weight of a new probe round trip in a node's latency average: at one
// probe per 100 ms, a change of distance shows within about half a second, and one slow
// probe (a stall, a GC pause) moves the average by a fifth of its excess.
const ewmaWeight = 0.2

// A probe round trip counts for at most ewmaClip times the average plus ewmaClipAbs: one
// scheduling hiccup of a loaded gateway (tens of milliseconds) does not move a node 0.3 ms
// away out of the replicas equally near, while a real change of distance still shows within
// about a second (the average can grow 1.6-fold per probe).
const (
	ewmaClip    = 4
	ewmaClipAbs = 2 * time.Millisecond
)

// observe records the round trip of a probe that succeeded (ok) or failed: a failure forgets
// the average, so that a node coming back is measured afresh, not by its last life.
func (n *node) observe(rtt time.Duration, ok bool) {
	if !ok {
		n.rtt.Store(0)
		return
	}
	v := max(int64(rtt), 1)
	if old := n.rtt.Load(); old > 0 {
		v = min(v, ewmaClip*old+int64(ewmaClipAbs))
		v = max(int64(ewmaWeight*float64(v)+(1-ewmaWeight)*float64(old)), 1)
	}
	n.rtt.Store(v)
}

// latency returns the node's measured latency (EWMA of probe round trips); 0: not known.
func (n *node) latency() time.Duration { return time.Duration(n.rtt.Load()) }

// state is the outcome of one probe of a node.
type state struct {
	ok      bool
	master  bool
	linkUp  bool   // replicas: link to the leader up
	replID  string // master_replid
	replID2 string // master_replid2
	offset2 int64  // second_repl_offset
	offset  int64  // master_repl_offset (leader) or processed offset (replica)
	err     error
}

func (n *node) close() {
	n.pool.Close()
	if n.strong != nil {
		n.strong.Close()
	}
	if n.block != nil {
		n.block.Close()
	}
}

// stats sums the stats of the node's multiplexed and acknowledged-write pools.
func (n *node) stats() pool.Stats {
	st := n.pool.Stats()
	if n.strong != nil {
		s := n.strong.Stats()
		st.Connected += s.Connected
		st.Backlog += s.Backlog
		st.Writes += s.Writes
		st.Batches += s.Batches
		st.InflightResponse += s.InflightResponse
	}
	return st
}

// probe asks the node for INFO replication.
func (n *node) probe(ctx context.Context) *state {
	b := pool.NewBatch(1)
	b.Add([]byte("INFO"), []byte("replication"))
	if err := n.pool.Do(ctx, b); err != nil {
		return &state{err: err}
	}
	defer b.Release()
	kind, data, _, _, err := resp.Next(b.Reply(0))
	if err != nil || kind != resp.Bulk {
		return &state{err: fmt.Errorf("INFO replication: unexpected reply %q", b.Reply(0))}
	}
	return parseInfo(string(data))
}

// parseInfo reads the fields of INFO replication the router needs.
func parseInfo(info string) *state {
	st := &state{ok: true}
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		switch k {
		case "role":
			st.master = v == "master"
		case "master_link_status":
			st.linkUp = v == "up"
		case "master_replid":
			st.replID = v
		case "master_replid2":
			st.replID2 = v
		case "second_repl_offset":
			st.offset2, _ = strconv.ParseInt(v, 10, 64)
		case "master_repl_offset":
			st.offset, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return st
}
