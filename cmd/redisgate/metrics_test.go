package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/redisgate/redisgate/internal/redistest"
)

// dashboardPath is the Grafana dashboard the README links, from this package's directory.
const dashboardPath = "../../deploy/grafana/redisgate.json"

// TestMetricsScrapeUnderLoad runs the gateway against a real Redis leader and replica, with the
// read cache and a per-IP rate limit on, scrapes /metrics while clients load it, and checks the
// scrape with promtool (the Debian package prometheus; make deps installs it: without it this
// test fails) and against the dashboard in deploy/grafana: every series a panel queries must be
// in the scrape.
func TestMetricsScrapeUnderLoad(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): install the Debian package prometheus (make deps does: apt-get install prometheus)", err)
	}
	rs := redistest.Start(t)
	replica := redistest.StartReplica(t, rs, "")
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	admin := fmt.Sprintf("127.0.0.1:%d", port)
	// Two databases on one server: a pooled one and one whose reads go to a replica (the
	// backend series come from the first, the replica series from the second).
	const plainToken, replicatedToken = "metrics-scrape-token-0123456789", "metrics-replica-token-0123456789"
	config := filepath.Join(t.TempDir(), "redisgate.yaml")
	if err := os.WriteFile(config, []byte(fmt.Sprintf(`databases:
  - name: plain
    upstream: %[1]s/0
    tokens: [%[3]s]
  - name: replicated
    upstream: %[1]s/1
    replicas: [%[2]s/1]
    tokens: [%[4]s]
`, rs.URL(), replica.URL(), plainToken, replicatedToken)), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _ := startRun(t, "redisgate listening on", "--config", config, "--listen", "127.0.0.1:0",
		"--cache=true", "--limit-ip", "300/s:50", "--admin-listen", admin, "--log-level", "error")
	rs.MustDo("SET", "hot", "v")

	// Load: each client sets, reads a hot key (cache hits), sends a pipeline and, now and then,
	// a request without a valid token, until the scrape is taken.
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	var sent, limited atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok, method, path, body := plainToken, "GET", "/get/hot", ""
				if c%2 == 1 {
					tok = replicatedToken
				}
				switch i % 5 {
				case 0:
					path = fmt.Sprintf("/set/k%d-%d/v", c, i)
				case 1:
					method, path, body = "POST", "/pipeline", `[["INCR","n"],["GET","hot"]]`
				case 2:
					if i%25 == 2 {
						tok = "not-a-token-not-a-token"
					}
				}
				req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+tok)
				res, err := hc.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				sent.Add(1)
				if res.StatusCode == http.StatusTooManyRequests {
					limited.Add(1)
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	redistest.WaitFor(t, 20*time.Second, func() bool { return sent.Load() >= 1000 && limited.Load() > 0 }, "1,000 requests, some rate-limited")

	res, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	scrape, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", res.StatusCode, err)
	}
	if sent.Load() < 1000 {
		t.Fatal("load stopped before the scrape")
	}
	t.Logf("scrape under load: %d bytes after %d requests (%d rate-limited)", len(scrape), sent.Load(), limited.Load())

	t.Run("promtool check metrics passes", func(t *testing.T) {
		version, _ := exec.Command(promtool, "--version").CombinedOutput()
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(string(scrape))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool check metrics: %v\n%s\nscrape:\n%s", err, out, scrape)
		}
		t.Logf("%s: check metrics passed on the scrape", strings.SplitN(string(version), "\n", 2)[0])
	})

	t.Run("scrape has the runtime series and the load's", func(t *testing.T) {
		p := expfmt.NewTextParser(model.LegacyValidation)
		mfs, err := p.TextToMetricFamilies(strings.NewReader(string(scrape)))
		if err != nil {
			t.Fatal(err)
		}
		value := func(name string, labels map[string]string) (float64, bool) {
			mf := mfs[name]
			if mf == nil {
				return 0, false
			}
			var sum float64
			found := false
		metrics:
			for _, m := range mf.GetMetric() {
				have := map[string]string{}
				for _, l := range m.GetLabel() {
					have[l.GetName()] = l.GetValue()
				}
				for k, v := range labels {
					if have[k] != v {
						continue metrics
					}
				}
				found = true
				switch {
				case m.Counter != nil:
					sum += m.GetCounter().GetValue()
				case m.Gauge != nil:
					sum += m.GetGauge().GetValue()
				case m.Histogram != nil:
					sum += float64(m.GetHistogram().GetSampleCount())
				}
			}
			return sum, found
		}
		for _, c := range []struct {
			name     string
			labels   map[string]string
			positive bool
		}{
			{"go_goroutines", nil, true},
			{"process_resident_memory_bytes", nil, true},
			{"redisgate_requests_total", map[string]string{"database": "plain", "route": "command", "status": "200"}, true},
			{"redisgate_requests_total", map[string]string{"database": "replicated", "route": "command", "status": "200"}, true},
			{"redisgate_requests_total", map[string]string{"route": "pipeline", "status": "200"}, true},
			{"redisgate_requests_total", map[string]string{"database": "", "status": "401"}, true},
			{"redisgate_requests_total", map[string]string{"status": "429"}, true},
			{"redisgate_request_duration_seconds", map[string]string{"route": "command"}, true},
			{"redisgate_ratelimit_decisions_total", map[string]string{"result": "allowed"}, true},
			{"redisgate_ratelimit_redis_trips_total", nil, true},
			{"redisgate_cache_events_total", map[string]string{"database": "plain", "event": "hit"}, true},
			{"redisgate_backend_connections", map[string]string{"database": "plain", "node": rs.Addr}, true},
			{"redisgate_backend_writes_total", map[string]string{"database": "plain"}, true},
			{"redisgate_replica_healthy", map[string]string{"database": "replicated", "replica": replica.Addr}, false},
			{"redisgate_replica_reads_total", map[string]string{"database": "replicated", "replica": replica.Addr}, false},
			{"redisgate_cache_bytes", map[string]string{"database": "plain"}, true},
		} {
			v, ok := value(c.name, c.labels)
			if !ok || (c.positive && v <= 0) {
				t.Errorf("%s%v: %g (found: %t)", c.name, c.labels, v, ok)
			}
		}
		denied, _ := value("redisgate_ratelimit_decisions_total", map[string]string{"result": "denied"})
		local, _ := value("redisgate_ratelimit_decisions_total", map[string]string{"result": "denied_locally"})
		if denied+local <= 0 {
			t.Errorf("no rate-limit denial counted (denied %g, denied_locally %g) though %d requests got 429", denied, local, limited.Load())
		}
	})

	t.Run("dashboard queries only exported series", func(t *testing.T) {
		exported := sampleNames(scrape)
		exprs := dashboardExprs(t, dashboardPath)
		if len(exprs) < 10 {
			t.Fatalf("only %d queries in %s", len(exprs), dashboardPath)
		}
		for _, e := range exprs {
			names := seriesNames(e.expr)
			if len(names) == 0 {
				t.Errorf("%s: no series found in %q", e.where, e.expr)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("%s: %s is not in /metrics (expr %q)", e.where, n, e.expr)
				}
			}
		}
		// The queries parse as PromQL: promtool checks them as recording rules.
		var rules strings.Builder
		rules.WriteString("groups:\n- name: dashboard\n  rules:\n")
		for i, e := range exprs {
			q, _ := json.Marshal(grafanaVars.Replace(e.expr))
			fmt.Fprintf(&rules, "  - record: dashboard:query_%d\n    expr: %s\n", i, q)
		}
		file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
		if err := os.WriteFile(file, []byte(rules.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
			t.Errorf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
		}
	})
}

// grafanaVars replaces the dashboard's variables with values PromQL accepts.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$job", ".*", "$database", ".*")

type dashboardExpr struct{ where, expr string }

// dashboardExprs returns the PromQL of every panel target (rows included) and the series
// queried by the template variables' label_values.
func dashboardExprs(t *testing.T, path string) []dashboardExpr {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string  `json:"title"`
		Panels  []panel `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []dashboardExpr
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, tg := range p.Targets {
				out = append(out, dashboardExpr{"panel " + p.Title, tg.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)["query"].(string)
		inner, ok := strings.CutPrefix(q, "label_values(")
		if !ok {
			t.Errorf("variable %s: query %q is not label_values(series, label)", v.Name, q)
			continue
		}
		if i := strings.LastIndex(inner, ","); i > 0 {
			inner = inner[:i]
		}
		out = append(out, dashboardExpr{"variable " + v.Name, inner})
	}
	return out
}

var (
	promqlStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promqlNumbers   = regexp.MustCompile(`\b\d[\d.]*(?:[eE][+-]?\d+)?(?:ms|s|m|h|d|w|y)?\b`)
	promqlGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	promqlKeywords  = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
	exportedNameRow = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]`)
)

// seriesNames returns the metric names a PromQL expression selects: the identifiers left once
// strings, label matchers, ranges, grouping clauses and numbers are taken out, less function names
// (followed by a parenthesis) and keywords.
func seriesNames(expr string) []string {
	e := promqlStrings.ReplaceAllString(expr, `""`)
	e = promqlMatchers.ReplaceAllString(e, " ")
	e = promqlGrouping.ReplaceAllString(e, " ")
	e = promqlNumbers.ReplaceAllString(e, " ")
	seen := map[string]bool{}
	var out []string
	for _, m := range promqlIdent.FindAllStringSubmatch(e, -1) {
		name := strings.TrimRight(strings.TrimSuffix(m[0], "("), " \t")
		if m[1] != "" || promqlKeywords[strings.ToLower(name)] || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// sampleNames returns the names of the samples in a text-format scrape (histograms' _bucket,
// _sum and _count included).
func sampleNames(scrape []byte) map[string]bool {
	names := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(scrape)))
	for sc.Scan() {
		if m := exportedNameRow.FindStringSubmatch(sc.Text()); m != nil {
			names[m[1]] = true
		}
	}
	return names
}

func TestSeriesNames(t *testing.T) {
	tests := []struct {
		give string
		want []string
	}{
		{`sum by (le, route) (rate(redisgate_request_duration_seconds_bucket{job=~"$job",route!="x{y}"}[5m]))`, []string{"redisgate_request_duration_seconds_bucket"}},
		{`a_total / on (database) group_left (node) b{x="sum(c)"} > bool 0.5e3 offset 5m`, []string{"a_total", "b"}},
		{`histogram_quantile(0.99, sum without (instance) (rate(x_bucket[$__rate_interval]))) or vector(0)`, []string{"x_bucket"}},
	}
	for _, tt := range tests {
		if got := seriesNames(tt.give); strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("seriesNames(%q) = %v, want %v", tt.give, got, tt.want)
		}
	}
}
