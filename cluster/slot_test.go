package cluster

import (
	"fmt"
	"testing"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestSlotAgreesWithRedis compares Slot with CLUSTER KEYSLOT of a real server for keys with
// and without hash tags, including the edge cases of the rules ("{}", "{{a}}", "a{}{b}").
func TestSlotAgreesWithRedis(t *testing.T) {
	srv := redistest.Start(t, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf")
	keys := []string{"", "a", "foo", "123456789", "{user1000}.following", "{user1000}.followers",
		"foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{}", "{", "}", "{a", "a}", "a{}{b}", "{{a}}", "é", "\x00\xff"}
	for i := range 200 {
		keys = append(keys, fmt.Sprintf("key:%d", i), fmt.Sprintf("{tag%d}:x", i))
	}
	for _, k := range keys {
		want := srv.MustDo("CLUSTER", "KEYSLOT", k)
		if got := Slot([]byte(k)); int64(got) != want {
			t.Errorf("Slot(%q) = %d, Redis says %v", k, got, want)
		}
	}
}

// FuzzSlot checks that Slot stays in range and that a hash tag decides the slot.
func FuzzSlot(f *testing.F) {
	f.Add([]byte("{user}x"), []byte("y"))
	f.Fuzz(func(t *testing.T, tag, rest []byte) {
		if s := Slot(rest); s < 0 || s >= Slots {
			t.Fatalf("slot %d out of range", s)
		}
		for _, c := range tag {
			if c == '{' || c == '}' {
				return
			}
		}
		if len(tag) == 0 {
			return
		}
		k := append(append(append([]byte("{"), tag...), '}'), rest...)
		if Slot(k) != Slot(tag) {
			t.Fatalf("Slot(%q) = %d, its tag %q has %d", k, Slot(k), tag, Slot(tag))
		}
	})
}
