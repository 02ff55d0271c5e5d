package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestReloadOnSIGHUP changes the tokens in the config file and sends SIGHUP: the new token
// opens the database, the removed one no longer does, and a bad file changes nothing.
func TestReloadOnSIGHUP(t *testing.T) {
	rs := redistest.Start(t)
	file := filepath.Join(t.TempDir(), "redisgate.yaml")
	write := func(token string) {
		conf := fmt.Sprintf("databases:\n  - name: main\n    upstream: %s\n    tokens: [%s]\n", rs.URL(), token)
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	const oldTok, newTok = "first-token-0123456789", "second-token-0123456789"
	write(oldTok)
	cmd := exec.Command(os.Args[0], "--config", file, "--listen", "127.0.0.1:0", "--admin-listen", "", "--log-level", "error")
	cmd.Env = append(os.Environ(), "REDISGATE_AS_MAIN=1")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("no output")
	}
	url := strings.TrimPrefix(sc.Text(), "redisgate listening on ")
	go io.Copy(io.Discard, out)

	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	status := func(token string) int {
		req, _ := http.NewRequest("GET", url+"/ping", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	if s := status(oldTok); s != 200 {
		t.Fatalf("old token before reload: %d", s)
	}
	if s := status(newTok); s != 401 {
		t.Fatalf("new token before reload: %d", s)
	}
	write(newTok)
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 3*time.Second, func() bool { return status(newTok) == 200 }, "new token accepted after SIGHUP")
	if s := status(oldTok); s != 401 {
		t.Errorf("removed token after reload: %d", s)
	}
	// A bad file is refused and the running configuration kept.
	if err := os.WriteFile(file, []byte("databases: [{name: main, tokens: [short]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(300 * time.Millisecond)
	if s := status(newTok); s != 200 {
		t.Errorf("after a bad reload: %d, want the running tokens kept", s)
	}
	// The process survived both reloads.
	if cmd.ProcessState != nil {
		t.Fatal("gateway exited")
	}
}
