package respserver_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestGoRedisBasics(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("RESP"+string(rune('0'+proto)), func(t *testing.T) {
			l := start(t)
			c := l.client(rwToken, func(o *redis.Options) { o.Protocol = proto })
			ctx := context.Background()
			if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
			if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
				t.Fatalf("GET: %q %v", v, err)
			}
		})
	}
}
