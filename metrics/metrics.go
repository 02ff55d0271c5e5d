// Package metrics keeps counters, gauges and histograms and writes them in the Prometheus text format.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds metric families and writes them out.
type Registry struct {
	mu       sync.Mutex
	families []family
}

type family interface {
	write(w io.Writer)
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{} }

func (r *Registry) add(f family) {
	r.mu.Lock()
	r.families = append(r.families, f)
	r.mu.Unlock()
}

// Write writes every metric in the Prometheus text exposition format.
func (r *Registry) Write(w io.Writer) {
	r.mu.Lock()
	fs := append([]family(nil), r.families...)
	r.mu.Unlock()
	for _, f := range fs {
		f.write(w)
	}
}

// labelKey joins label values into a map key; values never contain the separator in practice,
// and are escaped when written.
func labelKey(values []string) string { return strings.Join(values, "\x00") }

func writeLabels(w io.Writer, names, values []string, extra string) {
	if len(names) == 0 && extra == "" {
		return
	}
	io.WriteString(w, "{")
	for i, n := range names {
		if i > 0 {
			io.WriteString(w, ",")
		}
		fmt.Fprintf(w, "%s=%s", n, strconv.Quote(values[i]))
	}
	if extra != "" {
		if len(names) > 0 {
			io.WriteString(w, ",")
		}
		io.WriteString(w, extra)
	}
	io.WriteString(w, "}")
}

// CounterVec is a family of counters told apart by label values.
type CounterVec struct {
	name, help string
	labels     []string
	m          sync.Map // label key → *counterEntry
}

type counterEntry struct {
	values []string
	n      atomic.Uint64
}

// Counter registers a counter family named name with the given label names.
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{name: name, help: help, labels: labels}
	r.add(c)
	return c
}

// Counter is one counter of a CounterVec, for callers that keep it to skip the lookup.
type Counter struct{ e *counterEntry }

// With returns the counter with the given label values.
func (c *CounterVec) With(values ...string) Counter {
	key := labelKey(values)
	v, ok := c.m.Load(key)
	if !ok {
		v, _ = c.m.LoadOrStore(key, &counterEntry{values: append([]string(nil), values...)})
	}
	return Counter{v.(*counterEntry)}
}

// Inc adds one to the counter.
func (c Counter) Inc() { c.e.n.Add(1) }

// Add adds n to the counter with the given label values.
func (c *CounterVec) Add(n uint64, values ...string) {
	c.With(values...).e.n.Add(n)
}

// Inc adds one to the counter with the given label values.
func (c *CounterVec) Inc(values ...string) { c.Add(1, values...) }

func (c *CounterVec) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", c.name, c.help, c.name)
	for _, e := range sorted(&c.m) {
		ce := e.(*counterEntry)
		io.WriteString(w, c.name)
		writeLabels(w, c.labels, ce.values, "")
		fmt.Fprintf(w, " %d\n", ce.n.Load())
	}
}

// GaugeFunc registers a gauge whose value f reports when the metrics are written;
// f returns one value per label-value set.
func (r *Registry) GaugeFunc(name, help string, labels []string, f func(emit func(v float64, values ...string))) {
	r.add(gaugeFunc{name: name, help: help, labels: labels, f: f})
}

// CounterFunc registers a counter whose values f reports when the metrics are written.
func (r *Registry) CounterFunc(name, help string, labels []string, f func(emit func(v float64, values ...string))) {
	r.add(gaugeFunc{name: name, help: help, labels: labels, f: f, kind: "counter"})
}

type gaugeFunc struct {
	name, help string
	labels     []string
	f          func(emit func(v float64, values ...string))
	kind       string // "gauge" when empty
}

func (g gaugeFunc) write(w io.Writer) {
	kind := g.kind
	if kind == "" {
		kind = "gauge"
	}
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", g.name, g.help, g.name, kind)
	g.f(func(v float64, values ...string) {
		io.WriteString(w, g.name)
		writeLabels(w, g.labels, values, "")
		fmt.Fprintf(w, " %s\n", formatFloat(v))
	})
}

// HistogramVec is a family of histograms told apart by label values.
type HistogramVec struct {
	name, help string
	labels     []string
	buckets    []float64
	m          sync.Map // label key → *histEntry
}

type histEntry struct {
	values []string
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sum    atomic.Uint64   // float64 bits
	count  atomic.Uint64
}

// Histogram registers a histogram family with upper bounds buckets (in ascending order).
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	h := &HistogramVec{name: name, help: help, labels: labels, buckets: buckets}
	r.add(h)
	return h
}

// Histogram is one histogram of a HistogramVec, for callers that keep it to skip the lookup.
type Histogram struct {
	e       *histEntry
	buckets []float64
}

// With returns the histogram with the given label values.
func (h *HistogramVec) With(values ...string) Histogram {
	key := labelKey(values)
	e, ok := h.m.Load(key)
	if !ok {
		e, _ = h.m.LoadOrStore(key, &histEntry{values: append([]string(nil), values...), counts: make([]atomic.Uint64, len(h.buckets)+1)})
	}
	return Histogram{e.(*histEntry), h.buckets}
}

// Observe records v in the histogram with the given label values.
func (h *HistogramVec) Observe(v float64, values ...string) { h.With(values...).Observe(v) }

// ObserveDuration records d in seconds.
func (h Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// Observe records v.
func (h Histogram) Observe(v float64) {
	he := h.e
	i := sort.SearchFloat64s(h.buckets, v)
	he.counts[i].Add(1)
	he.count.Add(1)
	for {
		old := he.sum.Load()
		if he.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			break
		}
	}
}

// ObserveDuration records d in seconds.
func (h *HistogramVec) ObserveDuration(d time.Duration, values ...string) {
	h.Observe(d.Seconds(), values...)
}

func (h *HistogramVec) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", h.name, h.help, h.name)
	for _, e := range sorted(&h.m) {
		he := e.(*histEntry)
		var cum uint64
		for i := range he.counts {
			cum += he.counts[i].Load()
			le := "+Inf"
			if i < len(h.buckets) {
				le = formatFloat(h.buckets[i])
			}
			io.WriteString(w, h.name+"_bucket")
			writeLabels(w, h.labels, he.values, "le="+strconv.Quote(le))
			fmt.Fprintf(w, " %d\n", cum)
		}
		io.WriteString(w, h.name+"_sum")
		writeLabels(w, h.labels, he.values, "")
		fmt.Fprintf(w, " %s\n", formatFloat(math.Float64frombits(he.sum.Load())))
		io.WriteString(w, h.name+"_count")
		writeLabels(w, h.labels, he.values, "")
		fmt.Fprintf(w, " %d\n", he.count.Load())
	}
}

// sorted returns the entries of m ordered by key, so output is stable.
func sorted(m *sync.Map) []any {
	var keys []string
	vals := map[string]any{}
	m.Range(func(k, v any) bool {
		keys = append(keys, k.(string))
		vals[k.(string)] = v
		return true
	})
	sort.Strings(keys)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = vals[k]
	}
	return out
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// LatencyBuckets returns histogram bounds in seconds from 100 µs to 10 s.
func LatencyBuckets() []float64 {
	return []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
}
