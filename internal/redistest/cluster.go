package redistest

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is a Redis Cluster of real redis-server processes started for a test.
type Cluster struct {
	// Primaries hold the slots, split evenly in order: Primaries[0] the lowest.
	Primaries []*Server
	// Replicas[i] replicate Primaries[i].
	Replicas [][]*Server
}

// ClusterNodeTimeout is the cluster-node-timeout of the nodes StartCluster starts.
const ClusterNodeTimeout = time.Second

// StartCluster starts a cluster of primaries nodes sharing the 16,384 slots, each with
// replicas replicas, and waits until every node reports the cluster ok; args are extra
// redis-server arguments for every node. The nodes run with cluster-require-full-coverage no,
// so that the shards that still have a primary serve while another fails over.
func StartCluster(t testing.TB, primaries, replicas int, args ...string) *Cluster {
	t.Helper()
	nodeArgs := append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout.Milliseconds())),
		"--cluster-require-full-coverage", "no"}, args...)
	c := &Cluster{}
	var all []*Server
	for range primaries {
		s := Start(t, nodeArgs...)
		c.Primaries = append(c.Primaries, s)
		all = append(all, s)
	}
	for range primaries {
		var rs []*Server
		for range replicas {
			s := Start(t, nodeArgs...)
			rs = append(rs, s)
			all = append(all, s)
		}
		c.Replicas = append(c.Replicas, rs)
	}
	for i, s := range all {
		s.MustDo("CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1))
	}
	for i, s := range c.Primaries {
		lo, hi := i*16384/primaries, (i+1)*16384/primaries-1
		s.MustDo("CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi))
	}
	for _, s := range all[1:] {
		host, port, _ := net.SplitHostPort(s.Addr)
		all[0].MustDo("CLUSTER", "MEET", host, port)
	}
	WaitFor(t, 20*time.Second, func() bool {
		for _, s := range all {
			v, err := s.Do("CLUSTER", "NODES")
			if err != nil || strings.Count(fmt.Sprint(v), "connected") < len(all) {
				return false
			}
		}
		return true
	}, "cluster nodes meeting")
	for i, rs := range c.Replicas {
		id := c.Primaries[i].MustDo("CLUSTER", "MYID").(string)
		for _, r := range rs {
			WaitFor(t, 10*time.Second, func() bool { _, err := r.Do("CLUSTER", "REPLICATE", id); return err == nil }, "replica attached")
		}
	}
	c.WaitOK(t, 20*time.Second)
	for _, rs := range c.Replicas {
		for _, r := range rs {
			WaitFor(t, 20*time.Second, func() bool {
				v, err := r.Do("INFO", "replication")
				return err == nil && strings.Contains(fmt.Sprint(v), "master_link_status:up")
			}, "cluster replica link up")
		}
	}
	if replicas > 0 {
		// CLUSTER SLOTS lists a replica once its replication offset is known to be non-zero:
		// a write on each shard gets there.
		for _, p := range c.Primaries {
			for j := 0; ; j++ { // a key of one of p's slots
				k := fmt.Sprintf("redistest:probe:%d", j)
				if _, err := p.Do("SET", k, "1"); err == nil {
					p.MustDo("DEL", k)
					break
				}
			}
		}
		WaitFor(t, 20*time.Second, func() bool {
			v, err := c.Primaries[0].Do("CLUSTER", "SLOTS")
			if err != nil {
				return false
			}
			for _, r := range v.([]any) {
				if len(r.([]any)) < 3+replicas {
					return false
				}
			}
			return true
		}, "replicas listed in CLUSTER SLOTS")
	}
	return c
}

// WaitOK waits until every live node reports cluster_state:ok.
func (c *Cluster) WaitOK(t testing.TB, timeout time.Duration) {
	t.Helper()
	WaitFor(t, timeout, func() bool {
		for _, s := range c.Nodes() {
			select {
			case <-s.done:
				continue // killed
			default:
			}
			v, err := s.Do("CLUSTER", "INFO")
			if err != nil || !strings.Contains(fmt.Sprint(v), "cluster_state:ok") {
				return false
			}
		}
		return true
	}, "cluster state ok")
}

// Nodes returns every node, primaries first.
func (c *Cluster) Nodes() []*Server {
	nodes := append([]*Server(nil), c.Primaries...)
	for _, rs := range c.Replicas {
		nodes = append(nodes, rs...)
	}
	return nodes
}

// Seeds returns the addresses of the primaries, comma-separated.
func (c *Cluster) Seeds() string {
	var a []string
	for _, s := range c.Primaries {
		a = append(a, s.Addr)
	}
	return strings.Join(a, ",")
}

// AddPrimary starts a node with the cluster's arguments, joins it to the cluster as a primary
// holding no slot, and waits until every node knows it.
func (c *Cluster) AddPrimary(t testing.TB, args ...string) *Server {
	t.Helper()
	s := Start(t, append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.Itoa(int(ClusterNodeTimeout.Milliseconds())),
		"--cluster-require-full-coverage", "no"}, args...)...)
	host, port, _ := net.SplitHostPort(s.Addr)
	c.Primaries[0].MustDo("CLUSTER", "MEET", host, port)
	c.Primaries = append(c.Primaries, s)
	c.Replicas = append(c.Replicas, nil)
	id := s.MustDo("CLUSTER", "MYID").(string)
	WaitFor(t, 20*time.Second, func() bool {
		for _, n := range c.Nodes() {
			v, err := n.Do("CLUSTER", "NODES")
			if err != nil || !strings.Contains(fmt.Sprint(v), id) {
				return false
			}
		}
		return true
	}, "new primary known to every node")
	c.WaitOK(t, 20*time.Second)
	return s
}

// MoveSlots moves slots lo to hi, with their keys, from the primary from to the primary to, as
// redis-cli --cluster reshard does: per slot IMPORTING and MIGRATING, MIGRATE of its keys in
// groups of 100, then SETSLOT NODE on every primary.
func (c *Cluster) MoveSlots(t testing.TB, from, to *Server, lo, hi int) {
	t.Helper()
	sessions := map[*Server]*Session{}
	for _, p := range c.Primaries {
		sessions[p] = p.Session(t)
	}
	must := func(s *Server, args ...string) any {
		t.Helper()
		v, err := sessions[s].Do(args...)
		if err != nil {
			t.Fatalf("redistest: %s on %s: %v", args, s.Addr, err)
		}
		return v
	}
	fromID, toID := must(from, "CLUSTER", "MYID").(string), must(to, "CLUSTER", "MYID").(string)
	host, port, _ := net.SplitHostPort(to.Addr)
	for slot := lo; slot <= hi; slot++ {
		sl := strconv.Itoa(slot)
		must(to, "CLUSTER", "SETSLOT", sl, "IMPORTING", fromID)
		must(from, "CLUSTER", "SETSLOT", sl, "MIGRATING", toID)
		for {
			keys := must(from, "CLUSTER", "GETKEYSINSLOT", sl, "100").([]any)
			if len(keys) == 0 {
				break
			}
			args := []string{"MIGRATE", host, port, "", "0", "10000", "KEYS"}
			for _, k := range keys {
				args = append(args, k.(string))
			}
			must(from, args...)
		}
		must(to, "CLUSTER", "SETSLOT", sl, "NODE", toID)
		must(from, "CLUSTER", "SETSLOT", sl, "NODE", toID)
		for _, p := range c.Primaries {
			if p != from && p != to {
				if _, err := sessions[p].Do("CLUSTER", "SETSLOT", sl, "NODE", toID); err != nil {
					t.Logf("redistest: SETSLOT %d NODE on %s: %v", slot, p.Addr, err)
				}
			}
		}
	}
}
