package metrics

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/redisgate/redisgate/internal/redistest"
)

func TestExposition(t *testing.T) {
	r := newBareRegistry()
	c := r.Counter("req_total", "Requests.", "route", "status")
	c.Inc("command", "200")
	c.Add(2, "command", "200")
	c.With("pipeline", "429").Inc()
	h := r.Histogram("latency_seconds", "Latency.", []float64{0.001, 0.01}, "route")
	h.ObserveDuration(500*time.Microsecond, "command")
	h.With("command").ObserveDuration(5 * time.Millisecond)
	h.With("command").Observe(1)
	r.GaugeFunc("conns", "Connections.", []string{"db"}, func(emit func(float64, ...string)) { emit(3, "a") })
	r.CounterFunc("trips_total", "Trips.", nil, func(emit func(float64, ...string)) { emit(7) })
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	want := `# HELP conns Connections.
# TYPE conns gauge
conns{db="a"} 3
# HELP latency_seconds Latency.
# TYPE latency_seconds histogram
latency_seconds_bucket{route="command",le="0.001"} 1
latency_seconds_bucket{route="command",le="0.01"} 2
latency_seconds_bucket{route="command",le="+Inf"} 3
latency_seconds_sum{route="command"} 1.0055
latency_seconds_count{route="command"} 3
# HELP req_total Requests.
# TYPE req_total counter
req_total{route="command",status="200"} 3
req_total{route="pipeline",status="429"} 1
# HELP trips_total Trips.
# TYPE trips_total counter
trips_total 7
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestLabelValuesEscaped checks the exposition format's escaping (backslash, double quote,
// newline; UTF-8 as is), which Go's strconv.Quote does not follow.
func TestLabelValuesEscaped(t *testing.T) {
	r := newBareRegistry()
	r.Counter("req_total", "Requests.", "database").Inc("a\\b\"c\nd é\t")
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	if want := `req_total{database="a\\b\"c\nd é` + "\t" + `"} 1`; !strings.Contains(b.String(), want) {
		t.Errorf("got\n%s\nwant a line %s", b.String(), want)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := mfs["req_total"].GetMetric()[0].GetLabel()[0].GetValue(); got != "a\\b\"c\nd é\t" {
		t.Errorf("parsed back as %q", got)
	}
}

// TestRuntimeCollectors checks that a gateway's registry has the Go and process series and
// that what it exports passes the linter promtool check metrics uses.
func TestRuntimeCollectors(t *testing.T) {
	r := NewRegistry()
	r.Counter("redisgate_requests_total", "Requests.", "route").Inc("command")
	r.Histogram("redisgate_request_duration_seconds", "Latency.", LatencyBuckets(), "route").Observe(0.002, "command")
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"\ngo_goroutines ", "\nprocess_resident_memory_bytes ", "\ngo_gc_duration_seconds{quantile=\"0\"} "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("no %q in\n%s", want[1:], b.String())
		}
	}
	problems, err := testutil.GatherAndLint(r.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// TestTwoRegistriesApart checks that registries share nothing: the same name registers in
// both and counts apart.
func TestTwoRegistriesApart(t *testing.T) {
	a, b := newBareRegistry(), newBareRegistry()
	a.Counter("x_total", "X.").Inc()
	b.Counter("x_total", "X.")
	var sa, sb strings.Builder
	a.Write(&sa)
	b.Write(&sb)
	if !strings.Contains(sa.String(), "x_total 1\n") || strings.Contains(sb.String(), "x_total 1\n") {
		t.Errorf("a:\n%s\nb:\n%s", sa.String(), sb.String())
	}
}

// TestFuncErrorsKeepOtherSeries checks that a func emitting a wrong label set or a duplicate
// fails only its own series: Write and Handler still give the rest, and Handler logs why.
func TestFuncErrorsKeepOtherSeries(t *testing.T) {
	r := newBareRegistry()
	r.Counter("ok_total", "Fine.").Inc()
	r.GaugeFunc("bad", "Two values for one label.", []string{"db"}, func(emit func(float64, ...string)) {
		emit(1, "a", "b")
	})
	r.GaugeFunc("dup", "Same label set twice.", []string{"db"}, func(emit func(float64, ...string)) {
		emit(1, "a")
		emit(2, "a")
	})
	var b strings.Builder
	if err := r.Write(&b); err == nil {
		t.Error("Write reported no error")
	}
	if !strings.Contains(b.String(), "ok_total 1\n") {
		t.Errorf("ok_total lost:\n%s", b.String())
	}
	logs := &redistest.LogBuffer{}
	srv := httptest.NewServer(r.Handler(slog.New(slog.NewTextHandler(logs, nil))))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "ok_total 1\n") {
		t.Errorf("%d\n%s", res.StatusCode, body)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "dup") {
		t.Errorf("logged %q", logs.String())
	}
}

// TestHandlerServesTextAndGzip checks the content types /metrics answers with.
func TestHandlerServesTextAndGzip(t *testing.T) {
	r := newBareRegistry()
	r.Counter("ok_total", "Fine.").Inc()
	srv := httptest.NewServer(r.Handler(nil))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q", res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	if !bytes.Contains(body, []byte("ok_total 1\n")) {
		t.Errorf("%s", body)
	}
}

// TestHistogramConsistentUnderLoad scrapes while goroutines observe: in every scrape the +Inf
// bucket equals the count, buckets never decrease, and the sum matches the observations counted
// (each observation is 1 ms, so sum = count / 1000).
func TestHistogramConsistentUnderLoad(t *testing.T) {
	r := newBareRegistry()
	h := r.Histogram("lat_seconds", "Latency.", LatencyBuckets(), "route").With("command")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					h.ObserveDuration(time.Millisecond)
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for range 50 {
		mfs, err := r.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		hist := mfs[0].GetMetric()[0].GetHistogram()
		var prev uint64
		for _, b := range hist.GetBucket() {
			if b.GetCumulativeCount() < prev {
				t.Fatalf("bucket le=%g below the one before: %d < %d", b.GetUpperBound(), b.GetCumulativeCount(), prev)
			}
			prev = b.GetCumulativeCount()
		}
		if prev != hist.GetSampleCount() {
			t.Fatalf("last bucket %d, count %d", prev, hist.GetSampleCount())
		}
		if want := float64(hist.GetSampleCount()) / 1000; !near(hist.GetSampleSum(), want) {
			t.Fatalf("sum %g for count %d", hist.GetSampleSum(), hist.GetSampleCount())
		}
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-6*max(1, b) && -d < 1e-6*max(1, b) }
