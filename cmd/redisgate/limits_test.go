package main

import (
	"bufio"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestMain lets the test binary act as the redisgate binary, so tests can start real gateway processes.
func TestMain(m *testing.M) {
	if os.Getenv("REDISGATE_AS_MAIN") == "1" {
		ctx, stop := signalNotifyContext()
		defer stop()
		os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// startProcess runs a gateway process with args until the test ends and returns its URL.
func startProcess(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "REDISGATE_AS_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gateway process: %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("gateway process did not stop on SIGINT")
		}
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatalf("gateway printed nothing: %v", sc.Err())
	}
	url, ok := strings.CutPrefix(sc.Text(), "redisgate listening on ")
	if !ok {
		t.Fatalf("unexpected first line %q", sc.Text())
	}
	go io.Copy(io.Discard, out)
	return url
}

// TestLimitsAcrossProcesses runs three gateway processes on one Redis and checks that the
// limits hold across them: a burst admits exactly the burst, and steady overload B + R·t.
func TestLimitsAcrossProcesses(t *testing.T) {
	rs := redistest.Start(t)
	const token = "process-test-token-0123456789"
	start3 := func(limit ...string) []string {
		var urls []string
		for range 3 {
			args := append([]string{"--listen", "127.0.0.1:0", "--upstream", rs.URL(), "--token", token, "--log-level", "error"}, limit...)
			urls = append(urls, startProcess(t, args...))
		}
		return urls
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 5 * time.Second}
	get := func(url string) int {
		req, _ := http.NewRequest("GET", url+"/ping", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return 0
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}

	// Burst: 10·B concurrent requests over three processes admit exactly B.
	urls := start3("--limit-token", "1/h:20")
	var ok, tooMany atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch get(urls[i%3]) {
			case 200:
				ok.Add(1)
			case 429:
				tooMany.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 20 || tooMany.Load() != 180 {
		t.Errorf("burst: %d admitted, %d refused; want 20 and 180", ok.Load(), tooMany.Load())
	}

	// Steady overload for 5 s: B + 5R admitted, within 2%.
	urls = start3("--limit-ip", "40/s:20")
	ok.Store(0)
	begin := time.Now()
	stop := begin.Add(5 * time.Second)
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if get(urls[i%3]) == 200 {
					ok.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	want := 20 + 40*time.Since(begin).Seconds()
	t.Logf("steady: %d admitted, ideal %.1f", ok.Load(), want)
	if math.Abs(float64(ok.Load())-want) > 0.02*want {
		t.Errorf("steady: %d admitted, want %.1f ± 2%%", ok.Load(), want)
	}
}
