package respserver

import (
	"sync"
	"time"

	"github.com/redisgate/redisgate/metrics"
	"github.com/redisgate/redisgate/resp"
)

// observer counts connections, commands and errors; a nil observer counts nothing.
type observer struct {
	conns    *metrics.CounterVec
	commands *metrics.CounterVec
	errors   *metrics.CounterVec
	latency  metrics.Histogram

	mu  sync.Mutex
	dbs map[string]*dbCounters
}

// dbCounters are the counters of one database, looked up once per connection.
type dbCounters struct {
	commands, errors metrics.Counter
}

func newObserver(s *Server, r *metrics.Registry) *observer {
	o := &observer{
		conns:    r.Counter("redisgate_resp_connections_total", "Redis-protocol client connections, by outcome: accepted, refused (a connection cap), auth_failed (a wrong token), protocol_error (closed for breaking the protocol or a limit).", "outcome"),
		commands: r.Counter("redisgate_resp_commands_total", "Commands answered on the Redis-protocol listener, by database.", "database"),
		errors:   r.Counter("redisgate_resp_errors_total", "Error replies on the Redis-protocol listener (refusals, limits, Redis errors), by database.", "database"),
		latency:  r.Histogram("redisgate_resp_batch_duration_seconds", "Time to run one batch of a Redis-protocol client's pipelined commands (or one transaction) through the gateway.", metrics.LatencyBuckets()).With(),
		dbs:      map[string]*dbCounters{},
	}
	r.GaugeFunc("redisgate_resp_connections", "Open Redis-protocol client connections.", nil, func(emit func(float64, ...string)) {
		emit(float64(s.Conns()))
	})
	r.GaugeFunc("redisgate_resp_pinned_connections", "Redis connections held by Redis-protocol clients between WATCH and EXEC, by database.", []string{"database"}, func(emit func(float64, ...string)) {
		s.mu.Lock()
		defer s.mu.Unlock()
		for db, n := range s.pins {
			emit(float64(n), db)
		}
	})
	r.GaugeFunc("redisgate_resp_subscriptions", "Pub/sub and MONITOR subscriptions of Redis-protocol clients (one per SUBSCRIBE or PSUBSCRIBE of new names, one per MONITOR).", nil, func(emit func(float64, ...string)) {
		emit(float64(s.streams.Load()))
	})
	return o
}

func (o *observer) accepted() {
	if o != nil {
		o.conns.Inc("accepted")
	}
}

func (o *observer) refused() {
	if o != nil {
		o.conns.Inc("refused")
	}
}

func (o *observer) authFailed() {
	if o != nil {
		o.conns.Inc("auth_failed")
	}
}

func (o *observer) protocolError() {
	if o != nil {
		o.conns.Inc("protocol_error")
	}
}

func (o *observer) batch(d time.Duration) {
	if o != nil {
		o.latency.ObserveDuration(d)
	}
}

// database returns the counters of database db (nil without metrics).
func (o *observer) database(db string) *dbCounters {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.dbs[db]
	if c == nil {
		c = &dbCounters{commands: o.commands.With(db), errors: o.errors.With(db)}
		o.dbs[db] = c
	}
	return c
}

// count counts one reply.
func (c *dbCounters) count(raw []byte) {
	if c == nil {
		return
	}
	c.commands.Inc()
	if len(raw) > 0 && raw[0] == resp.Error {
		c.errors.Inc()
	}
}
