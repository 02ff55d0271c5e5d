package main

import (
	"log/slog"
	"math"
	"runtime/debug"

	"github.com/redisgate/redisgate/metrics"
	"github.com/redisgate/redisgate/proxy"
)

// applyMemoryLimit sets the Go runtime's soft memory limit to limit bytes (0: none), unless
// a GOMEMLIMIT environment variable set one, which wins. It returns the limit in force (0:
// none) and a func that puts back the limit found.
func applyMemoryLimit(limit int64, getenv func(string) string, log *slog.Logger) (int64, func()) {
	from := "--memory-limit"
	restore := func() {}
	if getenv("GOMEMLIMIT") != "" {
		from = "GOMEMLIMIT"
	} else if limit > 0 {
		prev := debug.SetMemoryLimit(limit)
		restore = func() { debug.SetMemoryLimit(prev) }
	}
	inForce := debug.SetMemoryLimit(-1)
	if inForce == math.MaxInt64 {
		inForce = 0
	}
	log.Info("memory limit", "bytes", inForce, "from", from)
	return inForce, restore
}

// registerBodyMetrics exports the request-body memory in flight.
func registerBodyMetrics(reg *metrics.Registry, srv *proxy.Server) {
	reg.GaugeFunc("redisgate_request_body_bytes_in_flight", "Memory held by request bodies being read or served, bounded by --max-inflight-body.", nil,
		func(emit func(float64, ...string)) { emit(float64(srv.BodyBytesInFlight())) })
}
