package redistest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestStartCluster starts 3 primaries with a replica each: every slot is served, a key
// written through its primary reaches that primary's replica, and another primary redirects.
func TestStartCluster(t *testing.T) {
	c := StartCluster(t, 3, 1)
	info := fmt.Sprint(c.Primaries[0].MustDo("CLUSTER", "INFO"))
	if !strings.Contains(info, "cluster_slots_assigned:16384") || !strings.Contains(info, "cluster_known_nodes:6") {
		t.Fatalf("cluster info: %s", info)
	}
	// "a" hashes to slot 15495: the third primary's.
	c.Primaries[2].MustDo("SET", "a", "1")
	if _, err := c.Primaries[0].Do("GET", "a"); err == nil || !strings.HasPrefix(err.Error(), "MOVED 15495 ") {
		t.Errorf("GET a on the first primary: %v, want MOVED 15495", err)
	}
	WaitFor(t, 5*time.Second, func() bool {
		v, err := c.Replicas[2][0].Do("DBSIZE")
		return err == nil && v == int64(1)
	}, "the key on the third primary's replica")
}
