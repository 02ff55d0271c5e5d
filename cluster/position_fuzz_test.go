package cluster

import (
	"testing"

	"github.com/redisgate/redisgate/replicaset"
)

// FuzzPositionParsers feeds the parsers of what decides a replica read arbitrary input: a
// sync token (untrusted, from the request) and a ROLE reply. They never panic, a token names
// a position only in its one fixed shape, and a replica is judged caught up only from a
// well-formed replica ROLE reply at or past the offset.
func FuzzPositionParsers(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef01234567-42-1", []byte("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:7000\r\n$9\r\nconnected\r\n:42\r\n"), int64(42))
	f.Add("", []byte("*3\r\n$6\r\nmaster\r\n:10\r\n*0\r\n"), int64(0))
	f.Add("x-1-1", []byte("*5\r\n$5\r\nslave\r\n"), int64(-1))
	f.Fuzz(func(t *testing.T, tok string, role []byte, offset int64) {
		if p, ok := replicaset.ParseToken(tok); ok && (len(p.ReplID) != 40 || p.Offset < 0) {
			t.Fatalf("token %q parsed as %+v", tok, p)
		}
		if caughtUp(role, offset) {
			v, err := decode(role)
			f, _ := v.([]any)
			if err != nil || len(f) < 5 || f[0] != "slave" || f[3] != "connected" || f[4].(int64) < offset {
				t.Fatalf("ROLE %q judged caught up at %d", role, offset)
			}
		}
		roleOffset(role)
	})
}
