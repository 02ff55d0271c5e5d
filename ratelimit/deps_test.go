package ratelimit_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNoTransport checks the package's contract: the algorithm imports no HTTP
// package, no HTTP server, no Redis client and no pool.
func TestImportsNoTransport(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		switch {
		case strings.HasPrefix(pkg, "net/http"),
			strings.HasPrefix(pkg, "github.com/valyala/"),
			strings.HasPrefix(pkg, "github.com/redis/"),
			strings.HasPrefix(pkg, "github.com/redisgate/redisgate/") && pkg != "github.com/redisgate/redisgate/ratelimit" && pkg != "github.com/redisgate/redisgate/script":
			t.Errorf("ratelimit depends on %s", pkg)
		}
	}
}
