package command

import (
	"fmt"
	"strings"
	"testing"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestCopyScript runs each COPY both as Redis runs it (database 0) and as a shared scope
// rewrites it (database 1), from the same data, and compares replies, values and TTLs; a
// COPY of a key onto itself must answer 0, as Upstash does, where Redis answers an error.
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
	copied := 0 // real COPYs that copied: the comparisons then covered a copy, not only refusals
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
				if f := fields(cmd); string(f[1]) == string(f[2]) {
					// Upstash answers 0 where Redis 7 answers an error.
					want, wantErr = int64(0), nil
				}
				if want == int64(1) {
					copied++
				}
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
	if copied == 0 {
		t.Error("no real COPY copied anything")
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

// TestCopySameKey checks that COPY of a key onto itself answers 0, as Upstash does (Redis 7
// answers "ERR source and destination objects are the same"), on every kind of scope, also
// inside a transaction, and leaves the key as it was.
func TestCopySameKey(t *testing.T) {
	srv := redistest.Start(t)
	c := dial(t, srv)
	for _, s := range []Scope{{}, {Confined: true}, {Shared: true, DB: 1}} {
		for _, cmd := range []string{"COPY k k", "copy k k REPLACE", "COPY missing missing"} {
			t.Run(fmt.Sprintf("%+v/%s", s, cmd), func(t *testing.T) {
				c.must("SET", "k", "v", "EX", "1000")
				p, err := s.Check(fields(cmd))
				if err != nil {
					t.Fatal(err)
				}
				if !p.Info.Script || string(p.Args[0]) != "EVAL" {
					t.Fatalf("COPY k k runs as %q", p.Args[0])
				}
				if got, err := c.doArgs(p.Args); got != int64(0) || err != nil {
					t.Fatalf("%s answered %v, %v; want 0", cmd, got, err)
				}
				if v := c.must("GET", "k"); v != "v" {
					t.Errorf("k is %v after %s", v, cmd)
				}
				if ttl := c.must("TTL", "k").(int64); ttl < 990 {
					t.Errorf("k's TTL is %d after %s", ttl, cmd)
				}
				tp, err := s.CheckInTransaction(fields(cmd))
				if err != nil {
					t.Fatal(err)
				}
				c.must("MULTI")
				if q := c.must(stringsOf(tp.Args)...); q != "QUEUED" {
					t.Fatalf("queued: %v", q)
				}
				if got := c.must("EXEC"); fmt.Sprint(got) != "[0]" {
					t.Errorf("EXEC of %s answered %v", cmd, got)
				}
			})
		}
	}
	p, err := Scope{}.Check(fields("COPY k k BOGUS"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.doArgs(p.Args); err == nil || err.Error() != "ERR syntax error" {
		t.Errorf("COPY k k BOGUS: %v", err)
	}
	p, _ = Scope{}.Check(fields("COPY k j"))
	if string(p.Args[0]) != "COPY" {
		t.Errorf("COPY k j runs as %q", p.Args[0])
	}
}

func stringsOf(args [][]byte) []string {
	s := make([]string, len(args))
	for i, a := range args {
		s[i] = string(a)
	}
	return s
}
