package respserver_test

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// redisCLI runs redis-cli against the listener with stdin and extra arguments.
func (l *listener) redisCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not installed")
	}
	host, port, _ := strings.Cut(l.addr, ":")
	cmd := exec.Command(bin, append([]string{"-h", host, "-p", port, "--no-auth-warning", "-a", rwToken}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func TestRedisCLI(t *testing.T) {
	l := start(t)
	// Commands from stdin, one a line, as a script or a person at the prompt types them.
	out := l.redisCLI(t, "SET greeting \"hello world\"\nGET greeting\nINCR n\nCLIENT SETNAME cli\nCLIENT GETNAME\nSELECT 3\nCONFIG GET maxmemory\n")
	want := []string{"OK", "hello world", "1", "OK", "cli", "ERR DB index is out of range", "ERR command 'CONFIG"}
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if line != "" { // redis-cli follows errors with an empty line
			lines = append(lines, line)
		}
	}
	if len(lines) != len(want) {
		t.Fatalf("redis-cli printed %q", out)
	}
	for i, w := range want {
		if !strings.HasPrefix(strings.TrimPrefix(lines[i], "(error) "), w) {
			t.Errorf("line %d: %q, want %q…", i, lines[i], w)
		}
	}
	// Mass insertion: --pipe sends RESP as fast as it can and counts the replies.
	var in strings.Builder
	const n = 20000
	for i := range n {
		fmt.Fprintf(&in, "*3\r\n$3\r\nSET\r\n$%d\r\nkey%d\r\n$%d\r\nval%d\r\n", len(fmt.Sprint("key", i)), i, len(fmt.Sprint("val", i)), i)
	}
	out = l.redisCLI(t, in.String(), "--pipe")
	if !strings.Contains(out, fmt.Sprintf("errors: 0, replies: %d", n+1)) { // +1: AUTH
		if !strings.Contains(out, fmt.Sprintf("errors: 0, replies: %d", n)) {
			t.Errorf("--pipe: %s", out)
		}
	}
	if got := l.redis.MustDo("GET", "key19999"); got != "val19999" {
		t.Errorf("key19999 = %v", got)
	}
}
