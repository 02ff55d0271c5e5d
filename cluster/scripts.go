package cluster

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"sync"
)

// maxScripts and maxScriptBytes bound the script bodies a Cluster keeps (tenants choose them:
// without a bound in bytes, 4,096 bodies of --max-body each would do); past either, new ones
// are not kept (an EVALSHA of theirs that meets NOSCRIPT on a node is answered NOSCRIPT, as
// Redis would).
const (
	maxScripts     = 4096
	maxScriptBytes = 16 << 20
)

// scriptBodies remembers the bodies of scripts by their SHA1, so that an EVALSHA that meets a
// node without the script can load it there.
type scriptBodies struct {
	mu     sync.Mutex
	bodies map[string][]byte
	bytes  int // the bodies' total size
}

// learn keeps the body of a script that SCRIPT LOAD or EVAL/EVAL_RO args carries, and
// forgets them all on SCRIPT FLUSH: after it, as on one Redis, an EVALSHA answers NOSCRIPT.
func (s *scriptBodies) learn(args [][]byte) {
	var body []byte
	switch {
	case len(args) >= 2 && eq(args[0], "SCRIPT") && eq(args[1], "FLUSH"):
		s.mu.Lock()
		s.bodies, s.bytes = nil, 0
		s.mu.Unlock()
		return
	case len(args) >= 3 && eq(args[0], "SCRIPT") && eq(args[1], "LOAD"):
		body = args[2]
	case len(args) >= 2 && (eq(args[0], "EVAL") || eq(args[0], "EVAL_RO")):
		body = args[1]
	default:
		return
	}
	sum := sha1.Sum(body)
	sha := hex.EncodeToString(sum[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bodies == nil {
		s.bodies = map[string][]byte{}
	}
	if _, ok := s.bodies[sha]; ok || len(s.bodies) >= maxScripts || s.bytes+len(body) > maxScriptBytes {
		return
	}
	s.bodies[sha] = bytes.Clone(body)
	s.bytes += len(body)
}

// body returns the body of the script sha (any case), if known.
func (s *scriptBodies) body(sha []byte) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bodies[string(bytes.ToLower(sha))]
	return b, ok
}

// known reports, for each SHA1 in shas (any case), whether its body is kept.
func (s *scriptBodies) known(shas [][]byte) []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bool, len(shas))
	for i, sha := range shas {
		_, out[i] = s.bodies[string(bytes.ToLower(sha))]
	}
	return out
}

// isEvalSHA reports whether args is EVALSHA or EVALSHA_RO with a SHA argument.
func isEvalSHA(args [][]byte) bool {
	return len(args) >= 2 && (eq(args[0], "EVALSHA") || eq(args[0], "EVALSHA_RO"))
}
