package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strings"
	"time"

	"github.com/redisgate/redisgate/backend"
	"github.com/redisgate/redisgate/metrics"
	"github.com/redisgate/redisgate/proxy"
	"github.com/redisgate/redisgate/ratelimit"
)

// registerMetrics adds the gauges and counters of the databases and the limiter to reg.
func registerMetrics(reg *metrics.Registry, dbs []proxy.Database, l *ratelimit.Limiter) {
	// Every database reports the same series per node, whatever its backend's shape.
	nodes := func(each func(d proxy.Database, n backend.NodeStats)) {
		for _, d := range dbs {
			for _, n := range d.Backend.Stats().Nodes {
				each(d, n)
			}
		}
	}
	reg.GaugeFunc("redisgate_backend_connections", "Multiplexed Redis connections up, by database and node.", []string{"database", "node"},
		func(emit func(float64, ...string)) {
			nodes(func(d proxy.Database, n backend.NodeStats) { emit(float64(n.Pool.Connected), d.Name, n.Addr) })
		})
	reg.GaugeFunc("redisgate_backend_backlog", "Batches waiting to be written to Redis or answered, by database and node.", []string{"database", "node"},
		func(emit func(float64, ...string)) {
			nodes(func(d proxy.Database, n backend.NodeStats) { emit(float64(n.Pool.Backlog), d.Name, n.Addr) })
		})
	reg.CounterFunc("redisgate_backend_writes_total", "Flushes to Redis, by database and node; batches_total ÷ writes_total is the mean batch size.", []string{"database", "node"},
		func(emit func(float64, ...string)) {
			nodes(func(d proxy.Database, n backend.NodeStats) { emit(float64(n.Pool.Writes), d.Name, n.Addr) })
		})
	reg.CounterFunc("redisgate_backend_batches_total", "Request batches written to Redis, by database and node.", []string{"database", "node"},
		func(emit func(float64, ...string)) {
			nodes(func(d proxy.Database, n backend.NodeStats) { emit(float64(n.Pool.Batches), d.Name, n.Addr) })
		})
	reg.GaugeFunc("redisgate_replica_healthy", "1 when a replica serves reads, by database and replica.", []string{"database", "replica"},
		func(emit func(float64, ...string)) {
			nodes(func(d proxy.Database, n backend.NodeStats) {
				if !n.Leader {
					v := 0.0
					if n.Healthy {
						v = 1
					}
					emit(v, d.Name, n.Addr)
				}
			})
		})
	reg.CounterFunc("redisgate_replica_reads_total", "Reads served by each replica.", []string{"database", "replica"},
		func(emit func(float64, ...string)) {
			nodes(func(d proxy.Database, n backend.NodeStats) {
				if !n.Leader {
					emit(float64(n.Reads), d.Name, n.Addr)
				}
			})
		})
	// A replicated database's nodes by region: measured latency and reads served (issue 20).
	replicated := func(each func(d proxy.Database, bs backend.Stats)) {
		for _, d := range dbs {
			if bs := d.Backend.Stats(); bs.Replicated {
				each(d, bs)
			}
		}
	}
	role := func(n backend.NodeStats) string {
		if n.Leader {
			return "leader"
		}
		return "replica"
	}
	reg.GaugeFunc("redisgate_node_latency_seconds", "Average round trip of the health probes of each node of a replicated database (absent while unknown), with its region.", []string{"database", "node", "region", "role"},
		func(emit func(float64, ...string)) {
			replicated(func(d proxy.Database, bs backend.Stats) {
				for _, n := range bs.Nodes {
					if n.Latency > 0 {
						emit(n.Latency.Seconds(), d.Name, n.Addr, n.Region, role(n))
					}
				}
			})
		})
	reg.CounterFunc("redisgate_node_reads_total", "Reads served by each node of a replicated database, with its region: each node's share of reads.", []string{"database", "node", "region", "role"},
		func(emit func(float64, ...string)) {
			replicated(func(d proxy.Database, bs backend.Stats) {
				for _, n := range bs.Nodes {
					emit(float64(n.Reads), d.Name, n.Addr, n.Region, role(n))
				}
			})
		})
	reg.CounterFunc("redisgate_read_routing_total", "Read routing events of replicated databases: hedge (a hedge read sent), hedge_won (its answer taken), hedge_denied (a slow read not hedged: the budget, a fifth of the reads, was spent), retry (a read sent to the next node after a connection failure), token_check (a sync-token read tried on the nearest replica behind ROLE), token_check_miss (that replica had not reached the token).", []string{"database", "event"},
		func(emit func(float64, ...string)) {
			replicated(func(d proxy.Database, bs backend.Stats) {
				r := bs.Routing
				for _, e := range []struct {
					name string
					v    int64
				}{{"hedge", r.Hedges}, {"hedge_won", r.HedgeWins}, {"hedge_denied", r.HedgesDenied}, {"retry", r.Retries}, {"token_check", r.Checked}, {"token_check_miss", r.CheckMisses}} {
					emit(float64(e.v), d.Name, e.name)
				}
			})
		})
	reg.CounterFunc("redisgate_cache_events_total", "Read cache events by database and kind.", []string{"database", "event"},
		func(emit func(float64, ...string)) {
			for _, d := range dbs {
				if d.Cache == nil {
					continue
				}
				st := d.Cache.Stats()
				for _, e := range []struct {
					name string
					v    int64
				}{{"hit", st.Hits}, {"miss", st.Misses}, {"eviction", st.Evictions}, {"invalidation", st.Invalidations}, {"flush", st.Flushes}, {"dropped_fill", st.Dropped}, {"coalesced", st.Coalesced}} {
					emit(float64(e.v), d.Name, e.name)
				}
			}
		})
	reg.GaugeFunc("redisgate_cache_bytes", "Bytes held by the read cache, by database.", []string{"database"},
		func(emit func(float64, ...string)) {
			for _, d := range dbs {
				if d.Cache != nil {
					emit(float64(d.Cache.Stats().Bytes), d.Name)
				}
			}
		})
	if l == nil {
		return
	}
	reg.CounterFunc("redisgate_ratelimit_decisions_total", "Rate-limit decisions by result.", []string{"result"},
		func(emit func(float64, ...string)) {
			st := l.Stats()
			// DeniedLocally first: each of its increments follows one of Denied, so the
			// difference read this way is never negative.
			local := st.DeniedLocally.Load()
			emit(float64(st.Allowed.Load()), "allowed")
			emit(float64(st.Denied.Load()-local), "denied")
			emit(float64(local), "denied_locally")
			emit(float64(st.Errors.Load()), "error")
		})
	reg.CounterFunc("redisgate_ratelimit_redis_trips_total", "Trips to Redis for rate-limit decisions.", nil,
		func(emit func(float64, ...string)) { emit(float64(l.Stats().Trips.Load())) })
}

// readiness reports, per database, whether its Redis leader is reachable, and its nodes.
func readiness(dbs []proxy.Database) (bool, []map[string]any) {
	ready := true
	var out []map[string]any
	for _, d := range dbs {
		bs := d.Backend.Stats()
		st := map[string]any{"name": d.Name, "ready": d.Backend.Ready()}
		if len(bs.Nodes) > 0 {
			st["leader"], st["connections"] = bs.Nodes[0].Addr, bs.Nodes[0].Pool.Connected
		}
		if bs.Replicated {
			// Each node's region, measured latency (0: unknown now) and reads served.
			l := bs.Nodes[0]
			st["leader_region"], st["leader_latency_ms"], st["leader_reads"] = l.Region, ms(l.Latency), l.Reads
			reps := []map[string]any{}
			for _, r := range bs.Nodes[1:] {
				reps = append(reps, map[string]any{"addr": r.Addr, "healthy": r.Healthy, "lag_bytes": r.Lag,
					"latency_ms": ms(r.Latency), "reads": r.Reads, "region": r.Region})
			}
			st["replicas"] = reps
			st["routing"] = map[string]int64{"hedges": bs.Routing.Hedges, "hedge_wins": bs.Routing.HedgeWins, "hedges_denied": bs.Routing.HedgesDenied, "retries": bs.Routing.Retries,
				"token_checks": bs.Routing.Checked, "token_check_misses": bs.Routing.CheckMisses}
		}
		if st["ready"] != true {
			ready = false
		}
		out = append(out, st)
	}
	return ready, out
}

// ms returns d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// startAdmin serves /healthz, /readyz, /metrics (and /debug/pprof when asked) on addr
// until the returned stop is called. When addr cannot be listened on, it logs a warning and
// serves nothing.
// The command line pprof serves is args with secrets redacted (see redactArgs).
func startAdmin(addr string, withPprof bool, args []string, reg *metrics.Registry, dbs []proxy.Database, log *slog.Logger) (stop func()) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ready, st := readiness(dbs)
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(map[string]any{"ready": ready, "databases": st})
	})
	mux.Handle("GET /metrics", reg.Handler(log))
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		cmdline := strings.Join(append([]string{"redisgate"}, redactArgs(args)...), "\x00")
		mux.HandleFunc("/debug/pprof/cmdline", func(w http.ResponseWriter, r *http.Request) {
			// pprof.Cmdline would serve os.Args, tokens and passwords given as flags included.
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, cmdline)
		})
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Warn("admin listener not started", "addr", addr, "err", err)
		return func() {}
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("admin listener stopped", "err", err)
		}
	}()
	log.Info("admin listening", "url", "http://"+ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}
}

// secretFlags are the flags whose values are credentials.
var secretFlags = map[string]bool{"token": true, "read-only-token": true}

// redactArgs returns args with the values of secretFlags and the passwords of URLs replaced by "xxxxx".
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case !strings.HasPrefix(a, "-") || !secretFlags[name]:
			out[i] = redactURLs(a)
		case hasValue && value != "":
			out[i] = a[:len(a)-len(value)] + "xxxxx"
		default:
			out[i] = a
			if i+1 < len(args) {
				i++
				out[i] = "xxxxx"
			}
		}
	}
	return out
}

// redactURLs replaces the password of every URL in the comma-separated list s.
func redactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	prefix, list := "", s
	if strings.HasPrefix(s, "-") {
		if name, value, ok := strings.Cut(s, "="); ok {
			prefix, list = name+"=", value
		}
	}
	parts := strings.Split(list, ",")
	for i, p := range parts {
		if u, err := url.Parse(p); err == nil && u.User != nil {
			parts[i] = u.Redacted()
		} else if err != nil && strings.Contains(p, "@") {
			parts[i] = "xxxxx" // unparsable but may hold credentials
		}
	}
	return prefix + strings.Join(parts, ",")
}
