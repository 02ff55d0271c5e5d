package poolstore_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/poolstore"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

func newPool(t *testing.T, rs *redistest.Server) *pool.Pool {
	t.Helper()
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.Size = 1
	o.Logger = quiet
	p := pool.New(o)
	t.Cleanup(func() { p.Close() })
	return p
}

// TestScriptFlushFallsBackToEval checks the EVALSHA → NOSCRIPT → EVAL path: after SCRIPT
// FLUSH (or a restarted Redis) a decision still comes from Redis.
func TestScriptFlushFallsBackToEval(t *testing.T) {
	rs := redistest.Start(t)
	l := ratelimit.NewLimiter(poolstore.New(newPool(t, rs)), ratelimit.Options{Lease: -1, Timeout: 5 * time.Second, Logger: quiet})
	rate := ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 2}
	for want := 1; want >= 0; want-- {
		rs.MustDo("SCRIPT", "FLUSH")
		if d := l.Allow(context.Background(), "t", "k", rate); !d.Allowed || d.Remaining != want || d.Err != nil {
			t.Fatalf("after SCRIPT FLUSH: %+v, want allowed with %d remaining", d, want)
		}
	}
}

func TestErrorsAndOddRepliesAreErrors(t *testing.T) {
	rs := redistest.Start(t)
	st := poolstore.New(newPool(t, rs))
	ctx := context.Background()
	for _, tt := range []struct{ give, wantErr string }{
		{"return redis.error_reply('boom')", "boom"},
		{"return 'x'", "array"},
		{"return {1, 'x'}", "integer"},
	} {
		_, err := st.Eval(ctx, tt.give, "0000000000000000000000000000000000000000", nil)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: error %v, want one naming %q", tt.give, err, tt.wantErr)
		}
	}
	if got, err := st.Eval(ctx, "return {1, 2, 3}", "0000000000000000000000000000000000000000", nil); err != nil || len(got) != 3 || got[2] != 3 {
		t.Errorf("{1, 2, 3}: %v, %v", got, err)
	}
}
