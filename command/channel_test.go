package command

import (
	"fmt"
	"testing"
	"time"

	"github.com/redisgate/redisgate/internal/redistest"
)

// TestChannelsOnRedis subscribes, on a real server shared by databases 1 and 2, to what
// database 1's tenant asks for ("*" and its keyspace notifications) and checks that it gets
// its own messages and notifications only, with the names it used.
func TestChannelsOnRedis(t *testing.T) {
	srv := redistest.Start(t, "--notify-keyspace-events", "KEA")
	db1 := Scope{Shared: true, Channels: "db1:", DB: 1}
	db2 := Scope{Shared: true, Channels: "db2:", DB: 2}
	sub := dial(t, srv)
	all, err := db1.Channel([]byte("*"), true)
	if err != nil {
		t.Fatal(err)
	}
	keyspace, err := db1.Channel([]byte("__keyspace@1__:*"), true)
	if err != nil {
		t.Fatal(err)
	}
	sub.send([][]byte{[]byte("PSUBSCRIBE"), all, keyspace})
	for range 2 {
		if _, err := sub.read(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}
	pub := dial(t, srv)
	for _, tc := range []struct {
		s   Scope
		cmd string
	}{{db2, "PUBLISH news other"}, {db1, "PUBLISH news mine"}} {
		p, err := tc.s.Check(fields(tc.cmd))
		if err != nil {
			t.Fatal(err)
		}
		pub.doArgs(p.Args)
	}
	for db := range 3 {
		pub.must("SELECT", fmt.Sprint(db))
		pub.must("SET", "k", "v")
	}
	want := []string{"* news mine", "__keyspace@1__:* __keyspace@1__:k set"}
	for _, w := range want {
		v, err := sub.read(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		m := v.([]any)
		got := fmt.Sprintf("%s %s %s", db1.Unchannel([]byte(m[1].(string))), db1.Unchannel([]byte(m[2].(string))), m[3])
		if m[0] != "pmessage" || got != w {
			t.Errorf("got %v (%s), want %s", m, got, w)
		}
	}
	if v, err := sub.read(200 * time.Millisecond); err == nil {
		t.Errorf("another database's message reached database 1's subscriber: %v", v)
	}
}
