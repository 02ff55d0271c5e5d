package limit_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLambdaLinksNoGatewayOrRedisClient checks that a Lambda function built on lambda/...
// (cmd/hello is one) links neither the gateway's HTTP server, nor its pool, nor a Redis
// client: it speaks HTTP to redisgate and nothing else.
func TestLambdaLinksNoGatewayOrRedisClient(t *testing.T) {
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	cmd := exec.Command("go", "list", "-deps", "./cmd/hello", "./cmd/top10", "./lambda/...")
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/redisgate/redisgate/ratelimit\n") {
		t.Fatalf("go list -deps names no ratelimit: the check would prove nothing\n%s", out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, banned := range []string{
			"github.com/valyala/fasthttp",
			"github.com/klauspost/compress",
			"github.com/redis/go-redis/",
			"github.com/redisgate/redisgate/pool",
			"github.com/redisgate/redisgate/proxy",
		} {
			if pkg == strings.TrimSuffix(banned, "/") || strings.HasPrefix(pkg, banned) {
				t.Errorf("lambda links %s", pkg)
			}
		}
	}
}
