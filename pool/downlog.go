package pool

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultDownEvery is how often a DownLog sums up a server that stays down, by default.
const DefaultDownEvery = 30 * time.Second

// DownLog reports a server that cannot be reached without a line per retry: one warning when
// it is first found down, one line when it is reachable again, and while it stays down a
// summary at most every Every. Its zero value (with Logger set) is ready; it is safe for
// concurrent use by the goroutines that dial one server.
type DownLog struct {
	// Logger receives the lines (default slog.Default()).
	Logger *slog.Logger
	// What names the connections in the lines, e.g. "redis" or "redis pub/sub" (default "redis").
	What string
	// Every is the least time between two summaries (default DefaultDownEvery).
	Every time.Duration

	mu       sync.Mutex
	since    time.Time // when the server was found down; zero while it is up
	reported time.Time // when the latest line about it was logged
}

// Failed records that addr could not be reached (or its connection was lost) with err, and
// logs it if it is news: the first failure, or a summary when Every has passed since the
// last line. addr must hold no credentials (host:port).
func (d *DownLog) Failed(addr string, err error) {
	now := time.Now()
	d.mu.Lock()
	first, summary := d.since.IsZero(), false
	var downFor time.Duration
	if first {
		d.since, d.reported = now, now
	} else if now.Sub(d.reported) >= d.every() {
		d.reported, summary = now, true
		downFor = round(now.Sub(d.since))
	}
	d.mu.Unlock()
	switch {
	case first:
		d.logger().Warn("cannot reach "+d.what()+" at "+addr+": "+err.Error()+"; retrying, and reporting at most every "+d.every().String()+" while it lasts",
			"addr", addr, "err", err)
	case summary:
		d.logger().Warn("still cannot reach "+d.what()+" at "+addr+" for "+downFor.String()+": "+err.Error(),
			"addr", addr, "down_for", downFor, "err", err)
	}
}

// Up records that addr was reached, and logs it when it was down.
func (d *DownLog) Up(addr string) {
	d.mu.Lock()
	since := d.since
	d.since = time.Time{}
	d.mu.Unlock()
	if !since.IsZero() {
		downFor := round(time.Since(since))
		d.logger().Info(d.what()+" at "+addr+" is reachable again after "+downFor.String(), "addr", addr, "down_for", downFor)
	}
}

// Down reports whether the latest news was a failure.
func (d *DownLog) Down() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.since.IsZero()
}

func (d *DownLog) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}

func (d *DownLog) what() string {
	if d.What == "" {
		return "redis"
	}
	return d.What
}

func (d *DownLog) every() time.Duration {
	if d.Every <= 0 {
		return DefaultDownEvery
	}
	return d.Every
}

// round rounds d to the second, or to the millisecond below a second, for logs.
func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Second)
}
