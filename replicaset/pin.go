package replicaset

import (
	"fmt"
	"time"

	"github.com/redisgate/redisgate/pool"
)

// Pin holds a connection to the leader of now (see pool.Pin), taken from its blocking
// connections' pool, for connection state such as WATCH; after a failover its batches reach
// a demoted server and fail.
func (s *Set) Pin() (*pool.Pin, error) {
	t := s.topo.Load()
	if t.leader.block == nil {
		return nil, fmt.Errorf("%w: no blocking connections configured", pool.ErrUnavailable)
	}
	return t.leader.block.Pin()
}

// AckTimeout is how long a strong write waits for a replica's acknowledgement.
func (s *Set) AckTimeout() time.Duration { return s.opts.AckTimeout }
