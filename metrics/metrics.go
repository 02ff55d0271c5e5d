// Package metrics is the gateway's Prometheus registry, built on the Prometheus Go client
// (github.com/prometheus/client_golang).
//
// A Registry is one gateway's set of metric families; there is no global registry, so two
// gateways in one process (as in tests) never share a series. NewRegistry adds the Go runtime
// and process collectors (go_goroutines, process_resident_memory_bytes, …).
//
// Contract for callers on the request path: resolve a child once (CounterVec.With,
// HistogramVec.With) and keep it; Counter.Inc and Histogram.Observe are then lock-free and do
// not allocate. Looking children up by label values on every request costs a hash of the values
// and, the first time, an allocation. A histogram's buckets, sum and count are updated by the
// client library so that a scrape sees them agree. Label values are escaped by the library's
// encoder. Values reported by GaugeFunc and CounterFunc are read when /metrics is scraped; a
// func that emits a label-value set twice, or with the wrong number of values, makes that
// series fail and is logged by Handler, the other series are still served.
package metrics

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
)

// Registry holds one gateway's metric families.
type Registry struct {
	reg *prometheus.Registry
}

// NewRegistry returns a Registry holding the Go runtime and process collectors.
func NewRegistry() *Registry {
	r := newBareRegistry()
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return r
}

// newBareRegistry returns a Registry without the runtime collectors, for tests of exact output.
func newBareRegistry() *Registry { return &Registry{reg: prometheus.NewRegistry()} }

// Gatherer returns the registry for code that gathers from it (promhttp, testutil).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the metrics in the format the scraper asks for (Prometheus text unless it asks
// for protobuf), gzipped when it accepts gzip; errors in collecting are logged to log (when not
// nil) and the series that could be collected are served.
func (r *Registry) Handler(log *slog.Logger) http.Handler {
	opts := promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}
	if log != nil {
		opts.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	}
	return promhttp.HandlerFor(r.reg, opts)
}

// Write gathers every metric and writes it to w in the Prometheus text exposition format.
func (r *Registry) Write(w io.Writer) error {
	mfs, gatherErr := r.reg.Gather()
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			return err
		}
	}
	return gatherErr
}

// CounterVec is a family of counters told apart by label values.
type CounterVec struct{ v *prometheus.CounterVec }

// Counter registers a counter family named name with the given label names; it panics if the
// name is taken or invalid, as registration happens once at start-up.
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	r.reg.MustRegister(v)
	return &CounterVec{v}
}

// Counter is one counter of a CounterVec, for callers that keep it to skip the lookup.
type Counter struct{ c prometheus.Counter }

// With returns the counter with the given label values, made on first use.
func (c *CounterVec) With(values ...string) Counter { return Counter{c.v.WithLabelValues(values...)} }

// Inc adds one to the counter.
func (c Counter) Inc() { c.c.Inc() }

// Add adds n to the counter with the given label values.
func (c *CounterVec) Add(n uint64, values ...string) { c.v.WithLabelValues(values...).Add(float64(n)) }

// Inc adds one to the counter with the given label values.
func (c *CounterVec) Inc(values ...string) { c.v.WithLabelValues(values...).Inc() }

// HistogramVec is a family of histograms told apart by label values.
type HistogramVec struct{ v *prometheus.HistogramVec }

// Histogram registers a histogram family with upper bounds buckets (in ascending order); it
// panics if the name is taken or invalid.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	r.reg.MustRegister(v)
	return &HistogramVec{v}
}

// Histogram is one histogram of a HistogramVec, for callers that keep it to skip the lookup.
type Histogram struct{ o prometheus.Observer }

// With returns the histogram with the given label values, made on first use.
func (h *HistogramVec) With(values ...string) Histogram {
	return Histogram{h.v.WithLabelValues(values...)}
}

// Observe records v.
func (h Histogram) Observe(v float64) { h.o.Observe(v) }

// ObserveDuration records d in seconds.
func (h Histogram) ObserveDuration(d time.Duration) { h.o.Observe(d.Seconds()) }

// Observe records v in the histogram with the given label values.
func (h *HistogramVec) Observe(v float64, values ...string) {
	h.v.WithLabelValues(values...).Observe(v)
}

// ObserveDuration records d in seconds in the histogram with the given label values.
func (h *HistogramVec) ObserveDuration(d time.Duration, values ...string) {
	h.Observe(d.Seconds(), values...)
}

// GaugeFunc registers a gauge whose values f reports when the metrics are gathered;
// f calls emit once per label-value set.
func (r *Registry) GaugeFunc(name, help string, labels []string, f func(emit func(v float64, values ...string))) {
	r.reg.MustRegister(&funcCollector{desc: prometheus.NewDesc(name, help, labels, nil), kind: prometheus.GaugeValue, f: f})
}

// CounterFunc registers a counter whose values f reports when the metrics are gathered;
// f calls emit once per label-value set, with values that never decrease.
func (r *Registry) CounterFunc(name, help string, labels []string, f func(emit func(v float64, values ...string))) {
	r.reg.MustRegister(&funcCollector{desc: prometheus.NewDesc(name, help, labels, nil), kind: prometheus.CounterValue, f: f})
}

// funcCollector turns the values a func emits into constant metrics at each gathering.
type funcCollector struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	f    func(emit func(v float64, values ...string))
}

func (c *funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *funcCollector) Collect(ch chan<- prometheus.Metric) {
	c.f(func(v float64, values ...string) {
		m, err := prometheus.NewConstMetric(c.desc, c.kind, v, values...)
		if err != nil {
			m = prometheus.NewInvalidMetric(c.desc, err)
		}
		ch <- m
	})
}

// LatencyBuckets returns histogram bounds in seconds from 100 µs to 10 s.
func LatencyBuckets() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}
