// Package replicaset routes a database's commands over a Redis leader and its replicas:
// writes go to the leader, eventual reads to the nearest healthy replica (by the measured
// round trips of the health probes, the gateway's own region first among equally near ones,
// never one farther than the leader), strong writes are acknowledged by a replica before they
// are answered, sync tokens give read-your-writes (across gateways too: a token is the tier's
// replication position), and the leader is followed through Sentinel failovers.
//
// Contract: Set.Do never changes a batch (a write travels in a copy followed by ROLE) and
// sends a write at most once; a read may also run, as a copy, on a second node when the first
// failed without an answer (retry-safe commands only) or, with Options.HedgeAfter, was slow
// (one retry-safe command of one key), and the caller's batch receives one answer. Its
// errors are the pool's. Code outside the set follows the leader with Set.Leader
// (pool.Options.Resolve) and OnLeaderChange; package backend wires that.
package replicaset

import (
	"fmt"
	"strconv"
	"strings"
)

// Mode is a consistency mode.
type Mode int

const (
	// Eventual sends writes to the leader and spreads reads over healthy replicas.
	Eventual Mode = iota + 1
	// Strong reads from the leader and answers a write only once a replica holds it.
	Strong
)

// ParseMode parses "eventual" or "strong".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "eventual", "":
		return Eventual, nil
	case "strong":
		return Strong, nil
	}
	return 0, fmt.Errorf("consistency %q: want eventual or strong", s)
}

// String returns "eventual" or "strong".
func (m Mode) String() string {
	if m == Strong {
		return "strong"
	}
	return "eventual"
}

// Position is a point in a leader's replication stream: its replication id and an offset.
type Position struct {
	ReplID string
	Offset int64
}

// IsZero reports whether p names no point.
func (p Position) IsZero() bool { return p.ReplID == "" }

// Token returns p as a sync token; seq makes every token distinct.
func (p Position) Token(seq uint64) string {
	if p.IsZero() {
		return "0-0-" + strconv.FormatUint(seq, 36)
	}
	return p.ReplID + "-" + strconv.FormatInt(p.Offset, 10) + "-" + strconv.FormatUint(seq, 36)
}

// ParseToken reads the position of a sync token made by Token; ok is false for any other text.
func ParseToken(tok string) (p Position, ok bool) {
	id, rest, ok1 := strings.Cut(tok, "-")
	off, _, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 || len(id) != 40 {
		return Position{}, false
	}
	n, err := strconv.ParseInt(off, 10, 64)
	if err != nil || n < 0 {
		return Position{}, false
	}
	return Position{ReplID: id, Offset: n}, true
}
