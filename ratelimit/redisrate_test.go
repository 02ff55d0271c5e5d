package ratelimit_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/ratelimit"
	"github.com/redisgate/redisgate/ratelimit/goredisstore"
)

// This file compares the limiter with github.com/go-redis/redis_rate/v10, the GCRA limiter
// the design first named, on the same redis-server: the differential test checks that both
// admit the same requests, and logs where their answers differ; the cost test measures both.

// contestant is one limiter under comparison, deciding for one key.
type contestant struct {
	name  string
	allow func(ctx context.Context, key string) verdict
}

// verdict is one decision, in the terms both limiters share.
type verdict struct {
	allowed               bool
	remaining             int
	retryAfter, resetAfte time.Duration
	err                   error
}

func (v verdict) String() string {
	return fmt.Sprintf("%v\t%d\t%v\t%v", v.allowed, v.remaining, v.retryAfter, v.resetAfte)
}

// ours returns our limiter over its own go-redis client of rs; lease as Options.Lease.
func ours(t testing.TB, rs *redistest.Server, name string, rate ratelimit.Rate, lease time.Duration) contestant {
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	// A decision that times out fails open: a loaded machine's slow trip must not pass for one.
	l := ratelimit.NewLimiter(goredisstore.New(rdb), ratelimit.Options{Lease: lease, Timeout: 5 * time.Second, Logger: quiet})
	return contestant{name, func(ctx context.Context, key string) verdict {
		d := l.Allow(ctx, "t", key, rate)
		return verdict{d.Allowed, d.Remaining, d.RetryAfter, d.ResetAfter, d.Err}
	}}
}

// theirs returns redis_rate over its own go-redis client of rs.
func theirs(t testing.TB, rs *redistest.Server, rate ratelimit.Rate) contestant {
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	l := redis_rate.NewLimiter(rdb)
	limit := redis_rate.Limit{Rate: rate.Count, Period: rate.Period, Burst: rate.Burst}
	return contestant{"redis_rate", func(ctx context.Context, key string) verdict {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		res, err := l.Allow(ctx, key, limit)
		if err != nil {
			return verdict{err: err}
		}
		return verdict{res.Allowed > 0, res.Remaining, res.RetryAfter, res.ResetAfter, nil}
	}}
}

// TestRedisRateStepByStep runs one client's requests, one at a time, through both limiters
// at the same instants and logs every answer side by side.
func TestRedisRateStepByStep(t *testing.T) {
	rs := redistest.Start(t)
	for _, rate := range []ratelimit.Rate{
		ratelimit.PerSecond(10),
		{Count: 100, Period: time.Minute, Burst: 5},
		{Count: 3, Period: time.Second, Burst: 3},
	} {
		t.Run(rate.String(), func(t *testing.T) {
			cs := []contestant{ours(t, rs, "ours", rate, -1), theirs(t, rs, rate)}
			var tab strings.Builder
			w := tabwriter.NewWriter(&tab, 2, 8, 2, ' ', 0)
			fmt.Fprintf(w, "step\tours: allowed\tremaining\tretry after\treset after\tredis_rate: allowed\tremaining\tretry after\treset after\n")
			var remainingDiffers int
			for step := range rate.Burst + 2 {
				var vs []verdict
				for _, c := range cs {
					v := c.allow(context.Background(), "step:"+rate.String()+":"+c.name)
					if v.err != nil {
						t.Fatalf("%s: %v", c.name, v.err)
					}
					vs = append(vs, v)
				}
				fmt.Fprintf(w, "%d\t%v\t%v\n", step+1, vs[0], vs[1])
				if vs[0].allowed != vs[1].allowed {
					t.Errorf("step %d: ours allowed=%v, redis_rate allowed=%v", step+1, vs[0].allowed, vs[1].allowed)
				}
				if want := max(0, rate.Burst-step-1); vs[0].remaining != want {
					t.Errorf("step %d: our remaining %d, want %d", step+1, vs[0].remaining, want)
				}
				if vs[0].remaining != vs[1].remaining {
					remainingDiffers++
				}
			}
			w.Flush()
			t.Logf("%s, requests back to back:\n%s%d of %d answers differ in Remaining", rate, tab.String(), remainingDiffers, rate.Burst+2)
		})
	}
	t.Log(`Why they differ:
- Remaining of a key's first request: redis_rate computes it in float seconds since 2017,
  (now - (now + interval - B*interval)) / interval, and Redis truncates the Lua number it returns;
  at now ~ 3e8 s the subtraction loses ~6e-8 s, the quotient falls just below B-1, and it reports
  B-2 (8 for the first of 10/s). Later requests start from the stored TAT and agree. Ours counts
  in integer microseconds: B-1, B-2, ... 0, always.
- RetryAfter when allowed: redis_rate answers -1 (ns), ours 0.
- RetryAfter and ResetAfter: the same quantities (until the next token; until the bucket is full).
  They differ by the time between the two limiters' calls (each step asks ours first), and
  redis_rate's are floats, ours whole microseconds. Ours answers denials after the first without
  Redis, from the time it was told (hence sub-microsecond digits in its later RetryAfter).
- Intervals that are not whole microseconds (3/s: 333,333.3 µs) are rounded to the nearest
  microsecond by ours, kept as floats by redis_rate: 0.1 µs per token, no admission changes.`)
}

// TestRedisRateAdmissionsAgree runs the same request sequences through both limiters, several
// processes (a limiter and a client each) per limiter, and checks that they admit the same
// number of requests, within one. Ours runs twice: taking no tokens ahead (every decision a
// trip to Redis, as redis_rate) and with its defaults (tokens leased for 100 ms).
func TestRedisRateAdmissionsAgree(t *testing.T) {
	rs := redistest.Start(t)
	const processes = 3
	type team struct {
		name    string
		members []contestant
	}
	teams := func(rate ratelimit.Rate) []team {
		var ts []team
		for _, mode := range []struct {
			name  string
			lease time.Duration
		}{{"ours, no lease", -1}, {"ours, defaults", 0}} {
			tm := team{name: mode.name}
			for range processes {
				tm.members = append(tm.members, ours(t, rs, mode.name, rate, mode.lease))
			}
			ts = append(ts, tm)
		}
		tm := team{name: "redis_rate"}
		for range processes {
			tm.members = append(tm.members, theirs(t, rs, rate))
		}
		return append(ts, tm)
	}
	var tab strings.Builder
	w := tabwriter.NewWriter(&tab, 2, 8, 2, ' ', 0)
	fmt.Fprintf(w, "sequence\trate\trequests each\tours, no lease\tours, defaults\tredis_rate\tideal\n")

	// check logs one sequence's admissions and fails when a limiter is more than tolerance away from redis_rate.
	check := func(seq string, rate ratelimit.Rate, offered int64, admitted []int64, ideal string, tolerance int64) {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", seq, rate, offered, admitted[0], admitted[1], admitted[2], ideal)
		for i := range 2 {
			if d := admitted[i] - admitted[2]; d < -tolerance || d > tolerance {
				t.Errorf("%s: %s admitted %d, redis_rate %d", seq, []string{"ours, no lease", "ours, defaults"}[i], admitted[i], admitted[2])
			}
		}
	}

	// Bursts: every process's goroutines fire at once, far more than the burst.
	for _, b := range []int{1, 10, 50} {
		rate := ratelimit.Rate{Count: 1, Period: time.Hour, Burst: b}
		ts := teams(rate)
		admitted := make([]int64, len(ts))
		n := 4 * b
		for i, tm := range ts {
			var ok atomic.Int64
			var wg sync.WaitGroup
			for g := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					v := tm.members[g%processes].allow(context.Background(), "burst:"+strconv.Itoa(b)+":"+tm.name)
					if v.err != nil {
						t.Errorf("%s: %v", tm.name, v.err)
					}
					if v.allowed {
						ok.Add(1)
					}
				}()
			}
			wg.Wait()
			admitted[i] = ok.Load()
		}
		check("burst, "+strconv.Itoa(processes)+" processes", rate, int64(n), admitted, strconv.Itoa(b), 1)
	}

	// Steady overload: each goroutine asks every limiter in turn, so all see nearly the same instants.
	for _, rate := range []ratelimit.Rate{{Count: 100, Period: time.Second, Burst: 10}, {Count: 20, Period: time.Second, Burst: 1}} {
		ts := teams(rate)
		admitted := make([]int64, len(ts))
		var asked atomic.Int64
		const goroutines, run = 4, 1500 * time.Millisecond
		var first, last [3]atomic.Int64 // unix µs of each limiter's first and last admission
		start := time.Now()
		var wg sync.WaitGroup
		for g := range goroutines * processes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Since(start) < run {
					asked.Add(1)
					for j := range ts {
						// Each goroutine asks the limiters in its own order, so that none is always first to a token.
						i := (j + g) % len(ts)
						tm := ts[i]
						v := tm.members[g%processes].allow(context.Background(), "steady:"+rate.String()+":"+tm.name)
						if v.err != nil {
							t.Errorf("%s: %v", tm.name, v.err)
						}
						if v.allowed {
							atomic.AddInt64(&admitted[i], 1)
							now := time.Now().UnixMicro()
							first[i].CompareAndSwap(0, now)
							last[i].Store(now)
						}
					}
					time.Sleep(time.Millisecond)
				}
			}()
		}
		wg.Wait()
		span := time.Duration(last[2].Load()-first[2].Load()) * time.Microsecond
		ideal := fmt.Sprintf("%.1f", float64(rate.Burst)+span.Seconds()*float64(rate.Count)/rate.Period.Seconds())
		// The limiters see the same instants only to within the scheduling of goroutines: on a
		// loaded machine a token that comes due while its caller is descheduled is taken late,
		// and with a small burst that time is lost. Quiet runs agree within one; allow 2%.
		tolerance := max(1, int64(0.02*(float64(rate.Burst)+run.Seconds()*float64(rate.Count)/rate.Period.Seconds())))
		check(fmt.Sprintf("steady overload, %d processes × %d goroutines, %v", processes, goroutines, run), rate, asked.Load(), admitted, ideal, tolerance)
	}
	w.Flush()
	t.Logf("admissions:\n%s", tab.String())
}

// scriptStats returns the calls and CPU microseconds of EVAL and EVALSHA since the last
// CONFIG RESETSTAT, from INFO commandstats (a script's own GET, SET and TIME are inside them).
func scriptStats(t testing.TB, rs *redistest.Server) (calls, usec int64) {
	info, _ := rs.MustDo("INFO", "commandstats").(string)
	for _, line := range strings.Split(info, "\n") {
		name, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || (name != "cmdstat_evalsha" && name != "cmdstat_eval") {
			continue
		}
		for _, f := range strings.Split(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				calls += n
			case "usec":
				usec += n
			}
		}
	}
	return calls, usec
}

// TestRedisRateCost measures both limiters on one redis-server: wall time per decision, scripts
// run by Redis per 1,000 decisions, and Redis CPU per decision (INFO commandstats). Run it
// without -race for figures (make ratelimit-compare); it fails only when ours costs Redis more.
func TestRedisRateCost(t *testing.T) {
	rs := redistest.Start(t)
	var tab strings.Builder
	w := tabwriter.NewWriter(&tab, 2, 8, 2, ' ', 0)
	fmt.Fprintf(w, "workload\tlimiter\tdecisions\tµs per decision (wall)\tscripts per 1,000\tRedis CPU µs per decision\n")
	for _, wl := range []struct {
		name       string
		rate       ratelimit.Rate
		goroutines int
		perG       int
	}{
		{"under limit, 1 client", ratelimit.Rate{Count: 1_000_000, Period: time.Second, Burst: 1_000_000}, 1, 2000},
		{"under limit, 16 concurrent", ratelimit.Rate{Count: 1_000_000, Period: time.Second, Burst: 1_000_000}, 16, 250},
		{"over limit, 1 client", ratelimit.Rate{Count: 1, Period: time.Hour, Burst: 1}, 1, 2000},
	} {
		// The limiters take turns, in rounds, so that a machine's load changes weigh on each alike.
		const rounds = 4
		cs := []contestant{ours(t, rs, "ours, defaults", wl.rate, 0), ours(t, rs, "ours, no lease", wl.rate, -1), theirs(t, rs, wl.rate)}
		type total struct {
			took        time.Duration
			calls, usec int64
		}
		totals := make([]total, len(cs))
		for round := range rounds {
			for i, c := range cs {
				key := "cost:" + wl.name + ":" + c.name
				if round == 0 {
					c.allow(context.Background(), key+":warm") // connect, load the script
				}
				rs.MustDo("CONFIG", "RESETSTAT")
				start := time.Now()
				var wg sync.WaitGroup
				for range wl.goroutines {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range wl.perG / rounds {
							if v := c.allow(context.Background(), key); v.err != nil {
								t.Errorf("%s: %v", c.name, v.err)
								return
							}
						}
					}()
				}
				wg.Wait()
				totals[i].took += time.Since(start)
				calls, usec := scriptStats(t, rs)
				totals[i].calls += calls
				totals[i].usec += usec
			}
		}
		scripts := map[string]int64{}
		n := int64(wl.goroutines * (wl.perG / rounds) * rounds)
		for i, c := range cs {
			tt := totals[i]
			scripts[c.name] = tt.calls
			fmt.Fprintf(w, "%s\t%s\t%d\t%.1f\t%.0f\t%.2f\n", wl.name, c.name, n,
				float64(tt.took.Microseconds())/float64(n), float64(tt.calls)*1000/float64(n), float64(tt.usec)/float64(n))
		}
		if scripts["ours, defaults"] > scripts["redis_rate"] {
			t.Errorf("%s: ours ran %d scripts, redis_rate %d", wl.name, scripts["ours, defaults"], scripts["redis_rate"])
		}
	}
	w.Flush()
	t.Logf("cost (Redis %s):\n%s", redisVersion(rs), tab.String())
}

// redisVersion returns the server's redis_version.
func redisVersion(rs *redistest.Server) string {
	info, _ := rs.MustDo("INFO", "server").(string)
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return v
		}
	}
	return "?"
}
