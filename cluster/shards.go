package cluster

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// parseShards reads a CLUSTER SHARDS reply (Redis 7): each shard's slot ranges, its primary
// and its replicas, of which only those whose health is "online" are kept (a replica loading
// its data or failed takes no reads). An empty node IP stands for host, the node asked; with
// tlsPort, a node's TLS port is used when it has one.
func parseShards(raw []byte, host string, tlsPort bool) (*topology, error) {
	v, err := decode(raw)
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SHARDS: %w", err)
	}
	shards, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("CLUSTER SHARDS: unexpected reply %q", truncate(raw))
	}
	t := &topology{owner: make([]uint16, Slots)}
	for _, sh := range shards {
		fields, ok := fieldMap(sh)
		if !ok {
			return nil, fmt.Errorf("CLUSTER SHARDS: bad shard %v", sh)
		}
		slots, _ := fields["slots"].([]any)
		nodes, _ := fields["nodes"].([]any)
		if len(slots)%2 != 0 {
			return nil, fmt.Errorf("CLUSTER SHARDS: odd slot list %v", slots)
		}
		if len(slots) == 0 {
			continue // a primary without slots serves nothing yet
		}
		primary := ""
		var replicas []string
		for _, n := range nodes {
			nf, ok := fieldMap(n)
			if !ok {
				return nil, fmt.Errorf("CLUSTER SHARDS: bad node %v", n)
			}
			a, ok := shardNodeAddr(nf, host, tlsPort)
			if !ok {
				return nil, fmt.Errorf("CLUSTER SHARDS: node without an address %v", n)
			}
			switch role, _ := nf["role"].(string); role {
			case "master":
				primary = a
			case "replica", "slave":
				if health, _ := nf["health"].(string); health == "online" {
					replicas = append(replicas, a)
				}
			}
		}
		if primary == "" {
			return nil, fmt.Errorf("CLUSTER SHARDS: a shard with slots and no primary %v", sh)
		}
		i := -1
		for j, a := range t.addrs {
			if a == primary {
				i = j
			}
		}
		if i < 0 {
			t.addrs = append(t.addrs, primary)
			t.replicas = append(t.replicas, replicas)
			i = len(t.addrs) - 1
		}
		for k := 0; k < len(slots); k += 2 {
			lo, ok1 := slots[k].(int64)
			hi, ok2 := slots[k+1].(int64)
			if !ok1 || !ok2 || lo < 0 || hi >= Slots || lo > hi {
				return nil, fmt.Errorf("CLUSTER SHARDS: bad slot range %v-%v", slots[k], slots[k+1])
			}
			for s := lo; s <= hi; s++ {
				t.owner[s] = uint16(i + 1)
			}
		}
	}
	if len(t.addrs) == 0 {
		return nil, errors.New("CLUSTER SHARDS: no slot assigned")
	}
	return t, nil
}

// fieldMap reads a RESP2 map (a flat array of names and values) into a Go map.
func fieldMap(v any) (map[string]any, bool) {
	a, ok := v.([]any)
	if !ok || len(a)%2 != 0 {
		return nil, false
	}
	m := make(map[string]any, len(a)/2)
	for i := 0; i < len(a); i += 2 {
		k, ok := a[i].(string)
		if !ok {
			return nil, false
		}
		m[k] = a[i+1]
	}
	return m, true
}

// shardNodeAddr returns the host:port of a node of a CLUSTER SHARDS reply.
func shardNodeAddr(f map[string]any, host string, tlsPort bool) (string, bool) {
	ip, _ := f["ip"].(string)
	if ip == "" || ip == "?" {
		ip = host
	}
	port, ok := f["port"].(int64)
	if tp, has := f["tls-port"].(int64); has && (tlsPort || !ok || port == 0) {
		port, ok = tp, true
	}
	if !ok || port <= 0 || port > 65535 {
		return "", false
	}
	return net.JoinHostPort(ip, strconv.FormatInt(port, 10)), true
}
