package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestGracefulShutdown sends SIGTERM while requests are in flight: every one of them is
// answered, new connections are refused, and the process exits 0.
func TestGracefulShutdown(t *testing.T) {
	rs := redistest.Start(t)
	const token = "shutdown-test-token-0123456789"
	cmd := exec.Command(os.Args[0], "--listen", "127.0.0.1:0", "--upstream", rs.URL(), "--token", token, "--admin-listen", "", "--log-level", "error")
	cmd.Env = append(os.Environ(), "REDISGATE_AS_MAIN=1")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("no output")
	}
	url := strings.TrimPrefix(sc.Text(), "redisgate listening on ")
	go io.Copy(io.Discard, out)

	// 20 requests that each take 500 ms (a BLPOP on an empty list), in flight at SIGTERM.
	var wg sync.WaitGroup
	results := make(chan string, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("POST", url+"/", strings.NewReader(`["BLPOP","empty",0.5]`))
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				results <- err.Error()
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			results <- res.Status + " " + string(b)
		}()
	}
	time.Sleep(150 * time.Millisecond)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	ok := 0
	for r := range results {
		if r == `200 OK {"result":null}` {
			ok++
		} else {
			t.Errorf("in-flight request: %s", r)
		}
	}
	err := cmd.Wait()
	t.Logf("%d of 20 in-flight requests answered; exited after %v", ok, time.Since(start))
	if err != nil {
		t.Errorf("exit: %v, want status 0", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("shutdown took %v, past its 10s deadline", took)
	}
	if _, err := http.Get(url + "/ping"); err == nil {
		t.Error("a new request was served after shutdown")
	}
}
