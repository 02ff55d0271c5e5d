package script

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		give, want  string
		wantChanged bool
	}{
		{"return 1", "return 1", false},
		{"#!lua\nreturn 1", "#!lua\nreturn 1", false},
		{"#!lua flags=no-writes\nreturn 1", "#!lua flags=no-writes\nreturn 1", false},
		{"#!lua flags=allow-key-locking\nreturn 1", "#!lua\nreturn 1", true},
		{"#!lua flags=allow-key-locking,no-writes\nreturn 1", "#!lua flags=no-writes\nreturn 1", true},
		{"#!lua flags=no-writes,allow-key-locking,allow-oom\r\nreturn 1", "#!lua flags=no-writes,allow-oom\r\nreturn 1", true},
		{"#!lua flags=allow-key-locking", "#!lua", true},
		{"#!lua name=x flags=allow-key-locking\n", "#!lua name=x\n", true},
	}
	for _, tt := range tests {
		got, changed := Normalize([]byte(tt.give))
		if string(got) != tt.want || changed != tt.wantChanged {
			t.Errorf("Normalize(%q) = %q, %v; want %q, %v", tt.give, got, changed, tt.want, tt.wantChanged)
		}
	}
}

func TestMapper(t *testing.T) {
	m := NewMapper(2, false)
	src := "#!lua flags=allow-key-locking\nreturn 1"
	orig, stored := Hash([]byte(src)), Hash([]byte("#!lua\nreturn 1"))
	args := [][]byte{[]byte("EVALSHA"), []byte(orig), []byte("0")}
	m.Rewrite(args)
	if string(args[1]) != orig {
		t.Fatalf("unknown hash rewritten to %s", args[1])
	}
	args = [][]byte{[]byte("eval"), []byte(src), []byte("0")}
	m.Rewrite(args)
	if string(args[1]) != "#!lua\nreturn 1" {
		t.Fatalf("EVAL script = %q", args[1])
	}
	args = [][]byte{[]byte("evalsha"), []byte(orig), []byte("0")}
	m.Rewrite(args)
	if string(args[1]) != stored {
		t.Fatalf("EVALSHA hash = %s, want %s", args[1], stored)
	}
	args = [][]byte{[]byte("SCRIPT"), []byte("exists"), []byte(orig), []byte("abc")}
	m.Rewrite(args)
	if string(args[2]) != stored || string(args[3]) != "abc" {
		t.Fatalf("SCRIPT EXISTS args = %q", args)
	}
	args = [][]byte{[]byte("SCRIPT"), []byte("LOAD"), []byte(src)}
	if h := m.Rewrite(args); h != orig {
		t.Fatalf("SCRIPT LOAD answers %q, want %s", h, orig)
	}
	if h := m.Rewrite([][]byte{[]byte("SCRIPT"), []byte("LOAD"), []byte("return 2")}); h != "" {
		t.Fatalf("unchanged SCRIPT LOAD answers %q", h)
	}
	// The map is bounded: two more scripts push the first one out.
	for _, s := range []string{"#!lua flags=allow-key-locking\nreturn 2", "#!lua flags=allow-key-locking\nreturn 3"} {
		m.Rewrite([][]byte{[]byte("EVAL"), []byte(s), []byte("0")})
	}
	args = [][]byte{[]byte("EVALSHA"), []byte(orig), []byte("0")}
	m.Rewrite(args)
	if len(m.m) > 2 {
		t.Fatalf("mapper holds %d hashes, bound 2", len(m.m))
	}
}

func TestComment(t *testing.T) {
	m := NewMapper(10, true)
	args := [][]byte{[]byte("EVAL"), []byte("#!lua flags=no-writes\nreturn 1"), []byte("0")}
	m.Rewrite(args)
	if string(args[1]) != "--#!lua flags=no-writes\nreturn 1" {
		t.Errorf("commented script %q", args[1])
	}
	if got, changed := Comment([]byte("return 1")); changed || string(got) != "return 1" {
		t.Errorf("Comment without shebang = %q, %v", got, changed)
	}
}

func TestNamespacedMapperSeesOnlyItsOwnScripts(t *testing.T) {
	m := NewMapper(10, false)
	m.Namespace()
	mine, theirs := "return 1", "return 2"
	args := func(a ...string) [][]byte {
		out := make([][]byte, len(a))
		for i, s := range a {
			out[i] = []byte(s)
		}
		return out
	}
	evalsha := func(sha string) string {
		a := args("EVALSHA", sha, "0")
		m.Rewrite(a)
		return string(a[1])
	}
	m.Rewrite(args("EVAL", mine, "0"))
	if got := evalsha(Hash([]byte(mine))); got != Hash([]byte(mine)) {
		t.Errorf("EVALSHA of a script the database ran: sent %s", got)
	}
	if got := evalsha(strings.ToUpper(Hash([]byte(theirs)))); got != noScript {
		t.Errorf("EVALSHA of another database's script: sent %s, want the hash of no script", got)
	}
	ex := args("SCRIPT", "EXISTS", Hash([]byte(mine)), Hash([]byte(theirs)))
	m.Rewrite(ex)
	if string(ex[2]) != Hash([]byte(mine)) || string(ex[3]) != noScript {
		t.Errorf("SCRIPT EXISTS sent %q", ex)
	}
	m.Rewrite(args("SCRIPT", "LOAD", theirs))
	if got := evalsha(Hash([]byte(theirs))); got != Hash([]byte(theirs)) {
		t.Errorf("EVALSHA after SCRIPT LOAD: sent %s", got)
	}
	m.Flush()
	if got := evalsha(Hash([]byte(mine))); got != noScript {
		t.Errorf("EVALSHA after Flush: sent %s", got)
	}
	// A rewritten Upstash script keeps its mapping once loaded again.
	up := "#!lua flags=allow-key-locking\nreturn 3"
	m.Rewrite(args("EVAL", up, "0"))
	norm, _ := Normalize([]byte(up))
	if got := evalsha(Hash([]byte(up))); got != Hash(norm) {
		t.Errorf("EVALSHA of a rewritten script: sent %s, want %s", got, Hash(norm))
	}
}
