package replicaset_test

import (
	"context"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/replicaset"
)

// BenchmarkReads compares GET throughput on the leader alone with reads spread over two replicas.
func BenchmarkReads(b *testing.B) {
	leader := redistest.Start(b)
	r1 := redistest.StartReplica(b, leader, "")
	r2 := redistest.StartReplica(b, leader, "")
	leader.Do("SET", "k", "0123456789012345678901234567890123456789012345678901234567890123")
	for _, tt := range []struct {
		name     string
		replicas []string
	}{{"leader-only", nil}, {"two-replicas", []string{r1.URL(), r2.URL()}}} {
		b.Run(tt.name, func(b *testing.B) {
			s, err := replicaset.New(replicaset.Options{Leader: leader.URL(), Replicas: tt.replicas, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			time.Sleep(200 * time.Millisecond) // a probe, so replicas are known healthy
			benchDo(b, s, replicaset.Request{}, "GET", "k")
		})
	}
}

// BenchmarkWrites compares eventual writes with strong (acknowledged) ones.
func BenchmarkWrites(b *testing.B) {
	leader := redistest.Start(b)
	r1 := redistest.StartReplica(b, leader, "")
	r2 := redistest.StartReplica(b, leader, "")
	s, err := replicaset.New(replicaset.Options{Leader: leader.URL(), Replicas: []string{r1.URL(), r2.URL()}, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for _, mode := range []replicaset.Mode{replicaset.Eventual, replicaset.Strong} {
		b.Run(mode.String(), func(b *testing.B) {
			benchDo(b, s, replicaset.Request{Write: true, Mode: mode}, "SET", "k", "v")
		})
	}
}

func benchDo(b *testing.B, s *replicaset.Set, req replicaset.Request, args ...string) {
	cmd := make([][]byte, len(args))
	for i, a := range args {
		cmd[i] = []byte(a)
	}
	b.SetParallelism(32) // 64 concurrent callers on 2 cores, like many HTTP requests
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			batch := pool.NewBatch(1)
			batch.Add(cmd...)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := s.Do(ctx, batch, req)
			cancel()
			if err != nil {
				b.Error(err)
				return
			}
			batch.Release()
		}
	})
}
