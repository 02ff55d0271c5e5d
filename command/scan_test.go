package command

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestScanWithType runs SCAN … WITHTYPE as scopes rewrite it and checks each answer against
// plain SCAN (the same command without WITHTYPE, from the same cursor on the same data)
// followed by TYPE of each key: the same cursor, the same keys in the same order, each
// followed by its type; errors as SCAN's own.
func TestScanWithType(t *testing.T) {
	srv := redistest.Start(t)
	c := dial(t, srv)
	c.must("FLUSHDB")
	for i := range 40 {
		n := strconv.Itoa(i)
		switch i % 5 {
		case 0:
			c.must("SET", "s:"+n, "v")
		case 1:
			c.must("RPUSH", "l:"+n, "a")
		case 2:
			c.must("SADD", "t:"+n, "a")
		case 3:
			c.must("HSET", "h:"+n, "f", "v")
		case 4:
			c.must("ZADD", "z:"+n, "1", "a")
		}
	}
	c.must("XADD", "x:stream", "1-1", "f", "v")
	// SCAN's answer from a cursor depends on the keyspace's hash table: let Redis finish
	// rehashing it after its growth (serverCron does, every 100 ms) before comparing scans.
	time.Sleep(300 * time.Millisecond)
	cases := []struct{ give, plain string }{
		{"SCAN 0 WITHTYPE", "SCAN 0"},
		{"scan 0 withtype", "scan 0"},
		{"SCAN 0 COUNT 7 WITHTYPE", "SCAN 0 COUNT 7"},
		{"SCAN 0 WITHTYPE COUNT 7", "SCAN 0 COUNT 7"},
		{"SCAN 0 MATCH s:* COUNT 100 WITHTYPE", "SCAN 0 MATCH s:* COUNT 100"},
		{"SCAN 0 WITHTYPE MATCH l:1* COUNT 1000", "SCAN 0 MATCH l:1* COUNT 1000"},
		{"SCAN 0 TYPE hash COUNT 1000 WITHTYPE", "SCAN 0 TYPE hash COUNT 1000"},
		{"SCAN 0 WITHTYPE TYPE stream COUNT 1000", "SCAN 0 TYPE stream COUNT 1000"},
		{"SCAN 0 MATCH nothing:* WITHTYPE", "SCAN 0 MATCH nothing:*"},
		{"SCAN 0 WITHTYPE WITHTYPE COUNT 3", "SCAN 0 COUNT 3"},
		{"SCAN abc WITHTYPE", "SCAN abc"},
		{"SCAN 0 COUNT 0 WITHTYPE", "SCAN 0 COUNT 0"},
		{"SCAN 0 WITHTYPE BOGUS", "SCAN 0 BOGUS"},
		{"SCAN 0 WITHTYPE MATCH", "SCAN 0 MATCH"},
	}
	for _, s := range []Scope{{}, {Confined: true}, {Shared: true, DB: 0}} {
		for _, tt := range cases {
			t.Run(fmt.Sprintf("%+v/%s", s, tt.give), func(t *testing.T) {
				p, err := s.Check(fields(tt.give))
				if err != nil {
					t.Fatal(err)
				}
				if string(p.Args[0]) != "EVAL_RO" || !p.Info.Script || !p.Info.NoWrite {
					t.Fatalf("runs as %q, %+v", p.Args[0], p.Info)
				}
				got, gotErr := c.doArgs(p.Args)
				want, wantErr := c.doArgs(fields(tt.plain))
				if wantErr != nil || gotErr != nil {
					if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
						t.Fatalf("error %v, SCAN's %v", gotErr, wantErr)
					}
					return
				}
				w, g := want.([]any), got.([]any)
				if len(g) != 2 || g[0] != w[0] {
					t.Fatalf("answer %v, SCAN's %v", got, want)
				}
				keys, pairs := w[1].([]any), g[1].([]any)
				if len(pairs) != 2*len(keys) {
					t.Fatalf("%d keys and types for SCAN's %d keys: %v", len(pairs), len(keys), pairs)
				}
				for i, k := range keys {
					if pairs[2*i] != k {
						t.Errorf("key %d is %v, SCAN's %v", i, pairs[2*i], k)
					}
					if typ := c.must("TYPE", k.(string)); pairs[2*i+1] != typ {
						t.Errorf("%v: type %v, TYPE says %v", k, pairs[2*i+1], typ)
					}
				}
				if len(keys) == 0 && tt.give != "SCAN 0 MATCH nothing:* WITHTYPE" {
					t.Errorf("SCAN found no keys")
				}
				// The same inside MULTI … EXEC.
				tp, err := s.CheckInTransaction(fields(tt.give))
				if err != nil {
					t.Fatal(err)
				}
				c.must("MULTI")
				c.must(stringsOf(tp.Args)...)
				if ex := c.must("EXEC"); fmt.Sprint(ex) != fmt.Sprint([]any{got}) {
					t.Errorf("in a transaction %v, alone %v", ex, got)
				}
			})
		}
	}
}

// TestScanWithTypeWalk walks the whole keyspace with small COUNTs and WITHTYPE and checks it
// sees every key once with its type.
func TestScanWithTypeWalk(t *testing.T) {
	srv := redistest.Start(t)
	c := dial(t, srv)
	want := map[string]string{}
	for i := range 300 {
		k := "k" + strconv.Itoa(i)
		if i%2 == 0 {
			c.must("SET", k, "v")
			want[k] = "string"
		} else {
			c.must("LPUSH", k, "v")
			want[k] = "list"
		}
	}
	seen := map[string]string{}
	cursor := "0"
	for trips := 0; ; trips++ {
		if trips > 1000 {
			t.Fatal("the scan does not end")
		}
		p, err := Scope{}.Check(fields("SCAN " + cursor + " COUNT 10 WITHTYPE"))
		if err != nil {
			t.Fatal(err)
		}
		r := c.must(stringsOf(p.Args)...).([]any)
		pairs := r[1].([]any)
		for i := 0; i < len(pairs); i += 2 {
			seen[pairs[i].(string)] = pairs[i+1].(string)
		}
		if cursor = r[0].(string); cursor == "0" {
			break
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Errorf("saw %d keys, want %d: %v", len(seen), len(want), seen)
	}
}

func TestScanWithoutWithTypeUnchanged(t *testing.T) {
	for _, cmd := range []string{"SCAN 0", "SCAN 0 MATCH withtype", "SCAN 0 TYPE WITHTYPE COUNT 5", "SCAN 0 BOGUS WITHTYPE"} {
		p, err := Scope{Shared: true}.Check(fields(cmd))
		if err != nil || fmt.Sprint(stringsOf(p.Args)) != fmt.Sprint(stringsOf(fields(cmd))) || p.Info.Script {
			t.Errorf("%s: %q, %v", cmd, p.Args, err)
		}
	}
	if _, err := (Scope{ReadOnly: true}).Check(fields("SCAN 0 WITHTYPE")); err == nil {
		t.Error("a read-only token ran SCAN WITHTYPE")
	}
}

// TestScanTypesCursor checks that the EVAL_RO a SCAN … WITHTYPE becomes is recognised, with
// its cursor's index, and that a tenant's own EVAL_RO of other text, or with keys, is not.
func TestScanTypesCursor(t *testing.T) {
	b := func(s ...string) [][]byte {
		var out [][]byte
		for _, x := range s {
			out = append(out, []byte(x))
		}
		return out
	}
	made := scanTypesScript(b("SCAN", "2051", "MATCH", "k*", "WITHTYPE", "COUNT", "5"))
	if i, ok := ScanTypesCursor(made); !ok || string(made[i]) != "2051" {
		t.Errorf("%q: %d %v, want the cursor 2051", made, i, ok)
	}
	for _, args := range [][][]byte{
		b("EVAL_RO", "return 1", "0", "5"),
		b("EVAL_RO", scanTypesLua, "1", "k"),
		b("EVAL", scanTypesLua, "0", "5"),
		b("EVAL_RO", scanTypesLua, "0"),
	} {
		if _, ok := ScanTypesCursor(args); ok {
			t.Errorf("%q taken for a SCAN … WITHTYPE", args)
		}
	}
}
