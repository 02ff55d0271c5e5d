package redistest

import (
	"bufio"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redisgate/redisgate/resp"
)

// DoDB runs one command in logical database db over a fresh connection (SELECT db, then
// the command) and returns its reply as Do does.
func (s *Server) DoDB(db int, args ...string) (any, error) {
	c, err := net.DialTimeout("tcp", s.Addr, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	out := resp.AppendCommand(nil, [][]byte{[]byte("SELECT"), []byte(strconv.Itoa(db))})
	cmd := make([][]byte, len(args))
	for i, a := range args {
		cmd[i] = []byte(a)
	}
	out = resp.AppendCommand(out, cmd)
	if _, err := c.Write(out); err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(c, 64<<10)
	raw, err := resp.ReadReply(r, nil, 0)
	if err != nil {
		return nil, err
	}
	if _, _, err := Decode(raw); err != nil {
		return nil, fmt.Errorf("SELECT %d: %w", db, err)
	}
	raw, err = resp.ReadReply(r, nil, 0)
	if err != nil {
		return nil, err
	}
	v, _, err := Decode(raw)
	return v, err
}

// MustDoDB is DoDB that fails the test on any error.
func (s *Server) MustDoDB(db int, args ...string) any {
	s.t.Helper()
	v, err := s.DoDB(db, args...)
	if err != nil {
		s.t.Fatalf("redis db %d %v: %v", db, args, err)
	}
	return v
}

// KeyState is what a snapshot records of one key: its type, its serialized value (DUMP)
// and its absolute expiry in milliseconds (-1: none).
type KeyState struct {
	Type     string
	Dump     string
	ExpireAt int64
}

// Snapshot returns every key of logical database db whose name does not start with one of
// skip, with its state, read directly from the server.
func (s *Server) Snapshot(db int, skip ...string) (map[string]KeyState, error) {
	keys, err := s.DoDB(db, "KEYS", "*")
	if err != nil {
		return nil, err
	}
	list, _ := keys.([]any)
	out := make(map[string]KeyState, len(list))
next:
	for _, k := range list {
		name := fmt.Sprint(k)
		for _, p := range skip {
			if strings.HasPrefix(name, p) {
				continue next
			}
		}
		var st KeyState
		typ, err := s.DoDB(db, "TYPE", name)
		if err != nil {
			return nil, err
		}
		st.Type = fmt.Sprint(typ)
		if st.Type == "none" {
			continue // expired between KEYS and TYPE
		}
		dump, err := s.DoDB(db, "DUMP", name)
		if err != nil {
			return nil, err
		}
		st.Dump = fmt.Sprint(dump)
		at, err := s.DoDB(db, "PEXPIRETIME", name)
		if err != nil {
			return nil, err
		}
		st.ExpireAt, _ = at.(int64)
		out[name] = st
	}
	return out, nil
}

// DiffSnapshots describes how after differs from before, one line per key, sorted; empty
// when they are equal.
func DiffSnapshots(before, after map[string]KeyState) []string {
	var d []string
	for k, b := range before {
		a, ok := after[k]
		switch {
		case !ok:
			d = append(d, fmt.Sprintf("key %q (%s) was removed", k, b.Type))
		case a.Type != b.Type:
			d = append(d, fmt.Sprintf("key %q changed type from %s to %s", k, b.Type, a.Type))
		case a.Dump != b.Dump:
			d = append(d, fmt.Sprintf("key %q (%s) changed value", k, a.Type))
		case a.ExpireAt != b.ExpireAt:
			d = append(d, fmt.Sprintf("key %q expiry changed from %d to %d", k, b.ExpireAt, a.ExpireAt))
		}
	}
	for k, a := range after {
		if _, ok := before[k]; !ok {
			d = append(d, fmt.Sprintf("key %q (%s) appeared", k, a.Type))
		}
	}
	sort.Strings(d)
	return d
}
