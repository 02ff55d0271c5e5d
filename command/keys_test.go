package command

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redisgate/redisgate/internal/redistest"
)

// keyCases are commands with keys in every shape the table knows: fixed positions, every
// key to the end, key-value pairs, subcommands, and each movablekeys rule.
var keyCases = []string{
	"GET k", "SET k v EX 10", "MGET a b c", "MSET a 1 b 2 c 3", "DEL a b", "EXISTS a b c",
	"RENAME a b", "LMOVE a b LEFT RIGHT", "OBJECT ENCODING k", "XINFO STREAM s", "MEMORY USAGE k",
	"BLPOP a b 0", "BRPOPLPUSH a b 0", "SMOVE a b m", "PFMERGE d a b", "BITOP AND d a b",
	"EVAL return 0 2 a b x y", "EVALSHA 0000000000000000000000000000000000000000 1 a x", "EVAL_RO return 0 0",
	"FCALL f 2 a b x", "FCALL_RO f 1 a",
	"ZUNION 2 a b WEIGHTS 1 2", "ZINTER 1 a", "ZDIFF 2 a b", "ZINTERCARD 2 a b LIMIT 1",
	"SINTERCARD 3 a b c", "LMPOP 2 a b LEFT", "ZMPOP 1 a MIN", "BLMPOP 0 2 a b LEFT", "BZMPOP 0 1 a MAX",
	"ZUNIONSTORE d 2 a b", "ZINTERSTORE d 1 a AGGREGATE MAX", "ZDIFFSTORE d 2 a b",
	"XREAD COUNT 1 STREAMS a b 0 0", "XREADGROUP GROUP g c STREAMS a >",
	"SORT k", "SORT k BY w LIMIT 0 1 GET g STORE d", "SORT_RO k ALPHA",
	"GEORADIUS k 0 0 1 km STORE d", "GEORADIUSBYMEMBER k m 1 km STOREDIST d", "GEORADIUS k 0 0 1 km",
	"MIGRATE h 1 k 0 10", "MIGRATE h 1 \"\" 0 10 KEYS a b",
	"PING", "DBSIZE", "PUBLISH c m",
}

// TestKeyIndexesAgreeWithRedis compares KeyIndexes with COMMAND GETKEYS of a real server.
func TestKeyIndexesAgreeWithRedis(t *testing.T) {
	srv := redistest.Start(t)
	c := dial(t, srv)
	for _, line := range keyCases {
		args := splitArgs(line)
		idx, err := KeyIndexes(args, nil)
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		var got []string
		for _, i := range idx {
			got = append(got, string(args[i]))
		}
		reply, rerr := c.doArgs(append([][]byte{[]byte("COMMAND"), []byte("GETKEYS")}, args...))
		var want []string
		switch {
		case rerr != nil && strings.Contains(rerr.Error(), "no key arguments"):
		case rerr != nil && strings.Contains(rerr.Error(), "Invalid arguments"):
		case rerr != nil && len(args) == 1 && strings.Contains(rerr.Error(), "wrong number of arguments"):
			// COMMAND GETKEYS needs at least one argument after the name.
		case rerr != nil:
			t.Errorf("%s: COMMAND GETKEYS: %v", line, rerr)
			continue
		default:
			for _, k := range reply.([]any) {
				want = append(want, k.(string))
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: keys %q, Redis says %q", line, got, want)
		}
	}
}

// TestKeyIndexesBadNumkeys refuses a numkeys or STREAMS list that does not fit the arguments.
func TestKeyIndexesBadNumkeys(t *testing.T) {
	for _, line := range []string{"EVAL s 3 a", "EVAL s -1", "EVAL s x", "ZUNIONSTORE d", "XREAD STREAMS a b c", "XREAD COUNT 1", "LMPOP"} {
		if _, err := KeyIndexes(splitArgs(line), nil); !errors.Is(err, ErrKeys) {
			t.Errorf("%s: %v, want ErrKeys", line, err)
		}
	}
}

func splitArgs(line string) [][]byte {
	var args [][]byte
	for _, f := range strings.Fields(line) {
		if f == `""` {
			f = ""
		}
		args = append(args, []byte(f))
	}
	return args
}

func ExampleKeyIndexes() {
	args := [][]byte{[]byte("EVAL"), []byte("return 1"), []byte("2"), []byte("a"), []byte("b"), []byte("arg")}
	idx, _ := KeyIndexes(args, nil)
	fmt.Println(idx)
	// Output: [3 4]
}

// TestKeyIndexesWholeTable asks COMMAND GETKEYS about every command and subcommand of the table
// with fixed key positions, called with as many arguments as its arity asks (plus two for
// commands of variable arity), and compares.
func TestKeyIndexesWholeTable(t *testing.T) {
	srv := redistest.Start(t)
	c := dial(t, srv)
	compared := 0
	check := func(s *spec) {
		if s.first <= 0 || s.flags&flagMovableKeys != 0 {
			return
		}
		args := [][]byte{}
		for _, part := range strings.Split(s.name, "|") {
			args = append(args, []byte(part))
		}
		n := s.arity
		if n < 0 {
			n = -n + 2
		}
		for i := len(args); i < n; i++ {
			args = append(args, []byte(fmt.Sprintf("a%d", i)))
		}
		reply, err := c.doArgs(append([][]byte{[]byte("COMMAND"), []byte("GETKEYS")}, args...))
		if err != nil {
			return // Redis cannot tell either (arguments it would reject)
		}
		var want []string
		for _, k := range reply.([]any) {
			want = append(want, k.(string))
		}
		idx, kerr := KeyIndexes(args, nil)
		var got []string
		for _, i := range idx {
			got = append(got, string(args[i]))
		}
		if kerr != nil || !slices.Equal(got, want) {
			t.Errorf("%s: keys %q (%v), Redis says %q", bytes.Join(args, []byte(" ")), got, kerr, want)
		}
		compared++
	}
	for i := range specs {
		check(&specs[i])
		for j := range specs[i].subs {
			check(&specs[i].subs[j])
		}
	}
	t.Logf("%d commands compared with COMMAND GETKEYS", compared)
	if compared < 150 {
		t.Errorf("only %d commands compared", compared)
	}
}
