package proxy

import (
	"context"
	"testing"
	"time"
)

func TestDeadlines(t *testing.T) {
	base, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := newDeadlines(base, 50*time.Millisecond)
	before := time.Now()
	ctx := d.context()
	dl, ok := ctx.Deadline()
	if !ok {
		t.Fatal("no deadline")
	}
	if dl.Before(before.Add(50*time.Millisecond)) || dl.After(time.Now().Add(50*time.Millisecond+deadlineSlot)) {
		t.Errorf("deadline %v from now, want 50ms to 60ms", dl.Sub(before))
	}
	// Requests in the same slot share one context (two calls can straddle a slot boundary, not three times in a row).
	shared := false
	for range 3 {
		a := d.context()
		if d.context() == a {
			shared = true
			break
		}
	}
	if !shared {
		t.Error("consecutive requests did not share the slot's context")
	}
	time.Sleep(2 * deadlineSlot)
	later := d.context()
	if dl2, _ := later.Deadline(); !dl2.After(dl) {
		t.Errorf("later deadline %v not after %v", dl2, dl)
	}
	select {
	case <-ctx.Done():
		t.Fatal("context ended before its deadline")
	default:
	}
	select {
	case <-ctx.Done():
		if time.Now().Before(dl) {
			t.Error("ended early")
		}
	case <-time.After(time.Second):
		t.Fatal("context did not end at its deadline")
	}
	// Cancelling the base ends every slot.
	cancel()
	select {
	case <-later.Done():
	case <-time.After(time.Second):
		t.Fatal("slot context outlived its base")
	}
}
