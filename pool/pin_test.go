package pool_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
	"github.com/redisgate/redisgate/pool"
)

// pinDo runs one command on p and returns its raw reply.
func pinDo(t *testing.T, p *pool.Pin, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	b := pool.NewBatch(1)
	defer b.Release()
	bs := make([][]byte, len(args))
	for i, a := range args {
		bs[i] = []byte(a)
	}
	b.Add(bs...)
	if err := p.Do(ctx, b); err != nil {
		return "", err
	}
	return string(b.Reply(0)), nil
}

// TestPinHoldsOneConnection: a Pin's batches run on one connection (its WATCH holds across
// them); pins are outside the pool's Size; a Pin released for reuse is the next one's
// connection, one released without is closed; a pool's Close loses its pins for good.
func TestPinHoldsOneConnection(t *testing.T) {
	rs := redistest.Start(t)
	o, err := pool.ParseURL(rs.URL())
	if err != nil {
		t.Fatal(err)
	}
	o.Size = 1
	d := pool.NewDedicated(o)
	a, err := d.Pin()
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Pin() // a second pin past Size 1
	if err != nil {
		t.Fatal(err)
	}
	idA, _ := pinDo(t, a, "CLIENT", "ID")
	if again, _ := pinDo(t, a, "CLIENT", "ID"); again != idA {
		t.Fatalf("a pin's batches ran on connections %s and %s", idA, again)
	}
	if idB, _ := pinDo(t, b, "CLIENT", "ID"); idB == idA {
		t.Fatal("two pins share a connection")
	}
	pinDo(t, a, "WATCH", "k")
	rs.MustDo("SET", "k", "changed")
	pinDo(t, a, "MULTI")
	pinDo(t, a, "SET", "k", "mine")
	if got, _ := pinDo(t, a, "EXEC"); got != "*-1\r\n" {
		t.Errorf("EXEC after the watched key changed: %q", got)
	}
	a.Release(true)
	if !a.Lost() {
		t.Error("a released pin is not lost")
	}
	c, _ := d.Pin()
	if id, _ := pinDo(t, c, "CLIENT", "ID"); id != idA {
		t.Errorf("the released connection %s was not reused (got %s)", idA, id)
	}
	c.Release(false)
	e, _ := d.Pin()
	if id, _ := pinDo(t, e, "CLIENT", "ID"); id == idA {
		t.Error("a connection released without reuse was given again")
	}
	d.Close()
	if _, err := pinDo(t, e, "PING"); !errors.Is(err, pool.ErrPinLost) || !e.Lost() {
		t.Errorf("a pin after Close: %v (lost %v)", err, e.Lost())
	}
	if _, err := pinDo(t, e, "PING"); !errors.Is(err, pool.ErrPinLost) {
		t.Errorf("a lost pin's next batch: %v", err)
	}
	if _, err := d.Pin(); !errors.Is(err, pool.ErrClosed) {
		t.Errorf("Pin after Close: %v", err)
	}
	b.Release(true)
	e.Release(true)
}
