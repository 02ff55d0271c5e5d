package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"go.uber.org/goleak"
)

// Launch runs redis-server with the given extra arguments outside any one test, for a
// TestMain whose Example functions need a Redis (they read its address from the
// environment). stop kills the server and removes its directory. Freeze, Thaw and Restart
// are for servers from Start only.
func Launch(args ...string) (s *Server, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, nil, fmt.Errorf("redis-server not found on PATH: `make test` installs it (apt-get install redis-server)")
	}
	dir, err := os.MkdirTemp("", "redistest")
	if err != nil {
		return nil, nil, err
	}
	s = &Server{args: args, dir: dir}
	for range 5 {
		port, perr := FreePort()
		if perr != nil {
			os.RemoveAll(dir)
			return nil, nil, perr
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.start(bin); err == nil {
			return s, func() { s.Kill(); os.RemoveAll(dir) }, nil
		}
	}
	os.RemoveAll(dir)
	return nil, nil, fmt.Errorf("redistest: could not start redis-server: %w", err)
}

// Main runs a package's tests and examples with a redis-server launched for them, whose
// address is in the environment variable REDIS_ADDR, then checks for leaked goroutines
// (goleak, with opts) and exits. Call it as the whole of TestMain.
func Main(m *testing.M, opts ...goleak.Option) {
	s, stop, err := Launch()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("REDIS_ADDR", s.Addr)
	code := m.Run()
	stop()
	if code == 0 {
		if err := goleak.Find(opts...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}
