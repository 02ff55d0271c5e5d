// Package redistest starts real redis-server processes on free loopback ports for tests and stops them afterwards.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redisgate/redisgate/resp"
)

// Server is one redis-server process started for a test.
type Server struct {
	// Addr is the server's host:port on 127.0.0.1.
	Addr string
	t    testing.TB
	args []string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs redis-server with the given extra arguments (as on its command line,
// e.g. "--maxmemory", "10mb") and stops it when the test ends.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server not found on PATH: `make test` installs it (apt-get install redis-server)")
	}
	s := &Server{t: t, args: args, dir: t.TempDir()}
	var lastErr error
	for range 5 {
		port, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = s.start(bin); lastErr == nil {
			t.Cleanup(s.Kill)
			return s
		}
	}
	t.Fatalf("redistest: could not start redis-server: %v", lastErr)
	return nil
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start(bin string) error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := append([]string{
		"--port", port, "--bind", "127.0.0.1", "--daemonize", "no", "--protected-mode", "no",
		"--save", "", "--appendonly", "no", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"),
		// A leader waits 5 s by default before a diskless full sync, for more replicas to share it.
		"--repl-diskless-sync-delay", "0",
	}, s.args...)
	s.cmd = exec.Command(bin, args...)
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("redis-server exited at start: %s", s.Log())
		default:
		}
		if err := ping(s.Addr); err == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("redis-server on %s not ready after 5s: %s", s.Addr, s.Log())
}

// ping sends PING over a fresh connection and expects PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("unexpected PING reply %q", line)
	}
	return nil
}

// URL returns the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Log returns the tail of the server's log file.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Kill stops the server at once (SIGKILL) and waits for it to exit.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT)
	s.cmd.Process.Kill()
	<-s.done
}

// Freeze suspends the server (SIGSTOP): connections stay open but nothing is answered.
func (s *Server) Freeze() { s.signal(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() { s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: signal %v: %v", sig, err)
	}
}

// Restart kills the server and starts it again on the same port with the same arguments.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	bin, _ := exec.LookPath("redis-server")
	var err error
	for range 50 {
		if err = s.start(bin); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}

// Do runs one command on a fresh connection and returns its reply: a string for simple and
// bulk strings, int64, nil, []any for arrays; an error reply is returned as an error.
func (s *Server) Do(args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	cmd := make([][]byte, len(args))
	for i, a := range args {
		cmd[i] = []byte(a)
	}
	if _, err := c.Write(resp.AppendCommand(nil, cmd)); err != nil {
		return nil, err
	}
	raw, err := resp.ReadReply(bufio.NewReader(c), nil, 0)
	if err != nil {
		return nil, err
	}
	v, _, err := Decode(raw)
	return v, err
}

// MustDo is Do that fails the test on any error.
func (s *Server) MustDo(args ...string) any {
	s.t.Helper()
	v, err := s.Do(args...)
	if err != nil {
		s.t.Fatalf("redis %v: %v", args, err)
	}
	return v
}

// KillClients kills, on the server side, every connection whose name starts with prefix,
// failing the test when there is none.
func (s *Server) KillClients(prefix string) {
	s.t.Helper()
	n := 0
	for _, line := range strings.Split(fmt.Sprint(s.MustDo("CLIENT", "LIST")), "\n") {
		var id, name string
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "id="); ok {
				id = v
			}
			if v, ok := strings.CutPrefix(f, "name="); ok {
				name = v
			}
		}
		if id != "" && strings.HasPrefix(name, prefix) {
			s.MustDo("CLIENT", "KILL", "ID", id)
			n++
		}
	}
	if n == 0 {
		s.t.Fatalf("redistest: no client named %s*", prefix)
	}
}

// Decode reads the first reply of raw as Do returns it (errors as errors) and returns the rest.
func Decode(raw []byte) (any, []byte, error) { return resp.Decode(raw) }

// Session is one connection to a Server for many commands in a row.
type Session struct {
	c net.Conn
	r *bufio.Reader
}

// Session opens a connection to s, closed when the test ends.
func (s *Server) Session(t testing.TB) *Session {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		t.Fatalf("redistest: session with %s: %v", s.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Session{c: c, r: bufio.NewReader(c)}
}

// Do runs one command on the session's connection and returns its reply as Server.Do does.
func (s *Session) Do(args ...string) (any, error) {
	s.c.SetDeadline(time.Now().Add(10 * time.Second))
	cmd := make([][]byte, len(args))
	for i, a := range args {
		cmd[i] = []byte(a)
	}
	if _, err := s.c.Write(resp.AppendCommand(nil, cmd)); err != nil {
		return nil, err
	}
	raw, err := resp.ReadReply(s.r, nil, 0)
	if err != nil {
		return nil, err
	}
	v, _, err := Decode(raw)
	return v, err
}
