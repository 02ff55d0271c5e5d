package replicaset

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

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
}

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
