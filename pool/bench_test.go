package pool_test

import (
	"context"
	"testing"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
)

// BenchmarkSmallGets measures the common path: many callers sending one small GET each.
func BenchmarkSmallGets(b *testing.B) {
	rs := redistest.Start(b)
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		b.Fatal(err)
	}
	o.Size = 2
	p := pool.New(o)
	defer p.Close()
	rs.MustDo("SET", "k", "a small value of some forty bytes, or so.")
	b.SetParallelism(16)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			batch := pool.NewBatch(1)
			batch.Add([]byte("GET"), []byte("k"))
			if err := p.Do(context.Background(), batch); err != nil {
				b.Error(err)
				return
			}
			if len(batch.Reply(0)) != 48 {
				b.Errorf("reply %q", batch.Reply(0))
			}
			batch.Release()
		}
	})
}
