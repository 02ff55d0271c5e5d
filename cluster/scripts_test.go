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
