package command

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestCopyScript runs each COPY both as Redis runs it (database 0) and as a shared scope
// rewrites it (database 1), from the same data, and compares replies, values and TTLs.
func TestCopyScript(t *testing.T) {
	srv := redistest.Start(t)
	real, emulated := dial(t, srv), dial(t, srv)
	emulated.must("SELECT", "1")
	shared := Scope{Shared: true, DB: 1}
	setups := map[string][]string{
		"string":  {"SET src v"},
		"list":    {"RPUSH src a b c"},
		"set":     {"SADD src a b c"},
		"zset":    {"ZADD src 1 a 2 b"},
		"hash":    {"HSET src f v g w"},
		"stream":  {"XADD src 1-1 f v", "XGROUP CREATE src g 0"},
		"ttl":     {"SET src v PX 100000"},
		"dst":     {"SET src v", "SET dst old"},
		"dstttl":  {"SET src v", "SET dst old EX 1000"},
		"none":    nil,
		"onlydst": {"SET dst old"},
	}
	commands := []string{"COPY src dst", "COPY src dst REPLACE", "copy src dst replace", "COPY src src",
		"COPY src src REPLACE", "COPY src dst BOGUS", "COPY src dst REPLACE REPLACE"}
	for name, setup := range setups {
		for _, cmd := range commands {
			t.Run(name+"/"+cmd, func(t *testing.T) {
				for _, c := range []*conn{real, emulated} {
					c.must("FLUSHDB")
					for _, s := range setup {
						c.must(strings.Fields(s)...)
					}
				}
				want, wantErr := real.doArgs(fields(cmd))
				p, err := shared.Check(fields(cmd))
				if err != nil {
					t.Fatal(err)
				}
				if !p.Info.Script || string(p.Args[0]) != "EVAL" {
					t.Fatalf("shared COPY runs as %q", p.Args[0])
				}
				got, gotErr := emulated.doArgs(p.Args)
				if fmt.Sprint(got) != fmt.Sprint(want) || fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
					t.Fatalf("COPY answered %v, %v; the script %v, %v", want, wantErr, got, gotErr)
				}
				for _, k := range []string{"src", "dst"} {
					if w, g := real.must("DUMP", k), emulated.must("DUMP", k); w != g {
						t.Errorf("%s: DUMP %q after COPY, %q after the script", k, w, g)
					}
					w, g := real.must("PEXPIRETIME", k).(int64), emulated.must("PEXPIRETIME", k).(int64)
					if w-g > 50 || g-w > 50 {
						t.Errorf("%s: PEXPIRETIME %d after COPY, %d after the script", k, w, g)
					}
				}
				if name == "stream" && want == int64(1) {
					if w, g := fmt.Sprint(real.must("XINFO", "GROUPS", "dst")), fmt.Sprint(emulated.must("XINFO", "GROUPS", "dst")); w != g {
						t.Errorf("stream groups %s after COPY, %s after the script", w, g)
					}
				}
			})
		}
	}
	if v := real.must("DBSIZE"); v == int64(0) {
		t.Error("the real COPY left nothing")
	}
}

func TestCopyRefusals(t *testing.T) {
	for _, s := range []Scope{{}, {Shared: true}} {
		for _, cmd := range []string{"COPY a b DB 0", "copy a b replace db 2", "COPY a b Db 1 REPLACE"} {
			_, err := s.Check(fields(cmd))
			if err == nil || err.Error() != "ERR command 'COPY' is not supported by redisgate: its DB option reaches another database" {
				t.Errorf("shared=%v %s: %v", s.Shared, cmd, err)
			}
			if Lookup(fields(cmd)).Kind != Refused {
				t.Errorf("Lookup(%s) is not Refused", cmd)
			}
		}
	}
	p, err := Scope{}.Check(fields("COPY a b REPLACE"))
	if err != nil || string(p.Args[0]) != "COPY" || p.Info.Script {
		t.Errorf("unshared COPY: %q, %v", p.Args, err)
	}
	if _, err := (Scope{Shared: true}).Check(fields("COPY a")); err == nil || !strings.Contains(err.Error(), "wrong number of arguments") {
		t.Errorf("shared COPY a: %v", err)
	}
	if _, err := (Scope{Shared: true, ReadOnly: true}).Check(fields("COPY a b")); err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		t.Errorf("read-only shared COPY: %v", err)
	}
}
