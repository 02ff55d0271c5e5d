package cluster

import (
	"fmt"
	"strings"
	"testing"
)

// TestScriptBodiesBounded checks that the bodies a tenant's scripts leave behind stay within
// maxScriptBytes and maxScripts, whatever their size and number.
func TestScriptBodiesBounded(t *testing.T) {
	var s scriptBodies
	big := strings.Repeat("x", 1<<20)
	for i := range 64 {
		s.learn([][]byte{[]byte("EVAL"), []byte(fmt.Sprintf("return %d --%s", i, big)), []byte("0")})
	}
	if s.bytes > maxScriptBytes || len(s.bodies) == 0 {
		t.Errorf("64 bodies of 1 MiB: %d kept, %d bytes (bound %d)", len(s.bodies), s.bytes, maxScriptBytes)
	}
	var n scriptBodies
	for i := range maxScripts + 10 {
		n.learn([][]byte{[]byte("SCRIPT"), []byte("LOAD"), []byte(fmt.Sprintf("return %d", i))})
	}
	if len(n.bodies) != maxScripts {
		t.Errorf("%d small bodies kept, want %d", len(n.bodies), maxScripts)
	}
}

// TestScriptBodiesFlush checks that SCRIPT FLUSH forgets the kept bodies (an EVALSHA then
// answers NOSCRIPT, as on one Redis) and that known reports the kept ones in any case.
func TestScriptBodiesFlush(t *testing.T) {
	var s scriptBodies
	s.learn([][]byte{[]byte("EVAL"), []byte("return 1"), []byte("0")})
	const sha = "E0E1F9FABFC9D4800C877A703B823AC0578FF8DB" // SHA1 of "return 1", upper case
	if got := s.known([][]byte{[]byte(sha), []byte("ffff")}); !got[0] || got[1] {
		t.Errorf("known after EVAL: %v, want [true false]", got)
	}
	s.learn([][]byte{[]byte("script"), []byte("flush"), []byte("SYNC")})
	if got := s.known([][]byte{[]byte(sha)}); got[0] || s.bytes != 0 {
		t.Errorf("after SCRIPT FLUSH: known %v, %d bytes kept", got, s.bytes)
	}
}
