package replicaset

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// sentinel returns a client for the Sentinel at addr.
func (s *Set) sentinel(addr string) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{
		Addr: addr, Password: s.opts.SentinelPassword,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second,
		PoolSize: 1, MaxRetries: -1,
	})
}

// discover asks the Sentinels, in turn until one answers, for the leader and the replicas
// that are up.
func (s *Set) discover(ctx context.Context) (string, []string, error) {
	var errs []error
	for _, addr := range s.opts.Sentinels {
		c := s.sentinel(addr)
		leader, replicas, err := discoverFrom(ctx, c, s.opts.MasterName)
		c.Close()
		if err == nil {
			return leader, replicas, nil
		}
		errs = append(errs, fmt.Errorf("sentinel %s: %w", addr, err))
	}
	return "", nil, errors.Join(errs...)
}

func discoverFrom(ctx context.Context, c *redis.SentinelClient, name string) (string, []string, error) {
	addr, err := c.GetMasterAddrByName(ctx, name).Result()
	if err != nil {
		return "", nil, fmt.Errorf("get-master-addr-by-name %s: %w", name, err)
	}
	if len(addr) != 2 {
		return "", nil, fmt.Errorf("get-master-addr-by-name %s: unexpected %q", name, addr)
	}
	list, err := c.Replicas(ctx, name).Result()
	if err != nil {
		return "", nil, fmt.Errorf("replicas %s: %w", name, err)
	}
	var replicas []string
	for _, r := range list {
		if strings.Contains(r["flags"], "down") || strings.Contains(r["flags"], "disconnected") {
			continue
		}
		replicas = append(replicas, net.JoinHostPort(r["ip"], r["port"]))
	}
	return net.JoinHostPort(addr[0], addr[1]), replicas, nil
}

// watchSentinels listens for +switch-master on one Sentinel after another and asks the
// monitor to refresh the topology when it comes, until Close.
func (s *Set) watchSentinels() {
	defer s.wg.Done()
	for i := 0; ; i++ {
		addr := s.opts.Sentinels[i%len(s.opts.Sentinels)]
		s.watch(addr)
		select {
		case <-s.stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// watch subscribes to one Sentinel's failover events until it fails or the set closes.
func (s *Set) watch(addr string) {
	c := s.sentinel(addr)
	defer c.Close()
	ctx := s.ctx
	ps := c.Subscribe(ctx, "+switch-master")
	defer ps.Close()
	// ReceiveMessage does not return on ctx's end by itself: closing the subscription ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	defer stop()
	if _, err := ps.Receive(ctx); err != nil {
		s.opts.Logger.Debug("sentinel subscribe failed", "sentinel", addr, "err", err)
		return
	}
	for {
		msg, err := ps.ReceiveMessage(ctx)
		if err != nil {
			return
		}
		if strings.HasPrefix(msg.Payload, s.opts.MasterName+" ") {
			s.opts.Logger.Info("sentinel announced a new leader", "sentinel", addr, "event", msg.Payload)
			s.askRefresh()
		}
	}
}
