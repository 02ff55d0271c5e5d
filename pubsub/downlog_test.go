package pubsub_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pubsub"
)

// TestUnreachableQuiet checks that the hub reports Redis down once, not at every redial,
// and once when it is back.
func TestUnreachableQuiet(t *testing.T) {
	rs := redistest.Start(t)
	var logs redistest.LogBuffer
	h := newHub(t, rs, func(o *pubsub.Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	subscribe(t, h, pubsub.Channels, "news")
	time.Sleep(1100 * time.Millisecond) // held long enough to count as up
	rs.Kill()
	time.Sleep(3 * time.Second)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "cannot reach redis (pub/sub) at "+rs.Addr) {
		t.Errorf("%d lines over 3 s with Redis down, want 1 warning:\n%s", len(lines), logs.String())
	}
	rs.Restart()
	redistest.WaitFor(t, 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "redis (pub/sub) at "+rs.Addr+" is reachable again")
	}, "the hub saying Redis is back")
}
