package backend

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redisgate/redisgate/pool"
	"github.com/redisgate/redisgate/resp"
)

// KillScripts returns a function (proxy.Database.KillScripts) that connects to each address nodes names (all
// of one database's nodes: a script may run on a replica) with o, which must carry
// credentials allowed to run SCRIPT KILL and FUNCTION KILL (the operator's, not a confined
// tenant user's), and stops whatever script or function runs there. A node running none
// is fine; a script that already wrote cannot be stopped (Redis answers UNKILLABLE), which
// is reported as an error.
func KillScripts(o pool.Options, nodes func() []string) func(context.Context) error {
	o.ClientName = "redisgate-killer"
	return func(ctx context.Context) error {
		var errs []error
		for _, addr := range nodes() {
			if err := killOn(ctx, o, addr); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			}
		}
		return errors.Join(errs...)
	}
}

// killOn sends SCRIPT KILL and FUNCTION KILL to the node at addr. It does not use
// pool.Dial: a busy Redis answers only the few commands allowed while a script runs (AUTH,
// SCRIPT KILL, FUNCTION KILL), not the handshake's CLIENT SETNAME or SELECT.
func killOn(ctx context.Context, o pool.Options, addr string) error {
	network := o.Network
	if network == "" {
		network = "tcp"
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	if o.TLS != nil {
		nc = tls.Client(nc, o.TLS)
	}
	defer nc.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Second)
	}
	nc.SetDeadline(deadline)
	var out []byte
	n := 2
	switch {
	case o.Password != "" && o.Username != "":
		out, n = resp.AppendCommand(out, [][]byte{[]byte("AUTH"), []byte(o.Username), []byte(o.Password)}), 3
	case o.Password != "":
		out, n = resp.AppendCommand(out, [][]byte{[]byte("AUTH"), []byte(o.Password)}), 3
	}
	out = resp.AppendCommand(out, [][]byte{[]byte("SCRIPT"), []byte("KILL")})
	out = resp.AppendCommand(out, [][]byte{[]byte("FUNCTION"), []byte("KILL")})
	if _, err := nc.Write(out); err != nil {
		return fmt.Errorf("script kill: %w", err)
	}
	br := bufio.NewReader(nc)
	// One kill answers OK, or both NOTBUSY when nothing runs; the kind that does not match
	// what runs answers "BUSY … You can only call FUNCTION KILL" (or SCRIPT KILL).
	var errs []error
	for i := range n {
		reply, err := resp.ReadReply(br, nil, 1<<16)
		if err != nil {
			return fmt.Errorf("script kill: %w", err)
		}
		kind, msg, _, _, _ := resp.Next(reply)
		switch {
		case i < n-2:
			if kind == resp.Error {
				return fmt.Errorf("auth: %s", msg)
			}
		case kind != resp.Error:
			return nil
		case !bytes.HasPrefix(msg, []byte("NOTBUSY")) && !bytes.HasPrefix(msg, []byte("BUSY")):
			errs = append(errs, errors.New(string(msg)))
		}
	}
	return errors.Join(errs...)
}
