package proxy

import (
	"bytes"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/redisgate/redisgate/metrics"
)

// observer records per-request metrics and debug logs.
type observer struct {
	requests *metrics.CounterVec
	latency  *metrics.HistogramVec
	s        *Server
	mu       sync.RWMutex
	counters map[requestKey]metrics.Counter // so the hot path builds no label key
	hists    map[string]metrics.Histogram   // by route, made up front
}

type requestKey struct {
	db, route string
	status    int
}

func newObserver(s *Server, r *metrics.Registry) *observer {
	o := &observer{
		s:        s,
		requests: r.Counter("redisgate_requests_total", "HTTP requests answered, by database, route and status.", "database", "route", "status"),
		latency:  r.Histogram("redisgate_request_duration_seconds", "Time from request read to response ready, by route.", metrics.LatencyBuckets(), "route"),
		counters: map[requestKey]metrics.Counter{},
		hists:    map[string]metrics.Histogram{},
	}
	for _, route := range []string{"preflight", "pipeline", "multi-exec", "stream", "command"} {
		o.hists[route] = o.latency.With(route)
	}
	return o
}

// routeName names the kind of request for metrics.
func routeName(ctx *fasthttp.RequestCtx) string {
	p := ctx.Request.URI().PathOriginal()
	switch {
	case ctx.IsOptions():
		return "preflight"
	case bytes.Equal(p, []byte("/pipeline")):
		return "pipeline"
	case bytes.Equal(p, []byte("/multi-exec")):
		return "multi-exec"
	case bytes.HasPrefix(p, []byte("/subscribe/")), bytes.HasPrefix(p, []byte("/psubscribe/")), bytes.Equal(p, []byte("/monitor")):
		return "stream"
	}
	return "command"
}

// record counts one answered request; it logs it at debug level, without tokens or values.
func (o *observer) record(ctx *fasthttp.RequestCtx, db string, start time.Time) {
	d := time.Since(start)
	r := routeName(ctx)
	status := ctx.Response.StatusCode()
	k := requestKey{db, r, status}
	o.mu.RLock()
	c, ok := o.counters[k]
	o.mu.RUnlock()
	if !ok {
		c = o.requests.With(db, r, strconv.Itoa(status))
		o.mu.Lock()
		o.counters[k] = c
		o.mu.Unlock()
	}
	c.Inc()
	o.hists[r].ObserveDuration(d)
	if o.s.debug {
		o.s.opts.Logger.Debug("request", "database", db, "route", r, "method", string(ctx.Method()),
			"status", status, "duration", d, "remote", ctx.RemoteIP().String())
	}
}
