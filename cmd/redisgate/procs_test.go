package main

import (
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"testing"
)

// testEnv is the environment of a gateway run inside the test process: env, and GOMAXPROCS
// set to the test process's own, so that a run does not change the scheduler of the tests
// around it (see applyProcs).
func testEnv(env map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := env[k]; ok || k != "GOMAXPROCS" {
			return v
		}
		return strconv.Itoa(runtime.GOMAXPROCS(0))
	}
}

func TestApplyProcs(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	before := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(before) })
	none := func(string) string { return "" }
	cases := []struct {
		name  string
		procs int
		env   func(string) string
		want  int
	}{
		{"default: Go's", 0, none, before},
		{"one", 1, none, 1},
		{"explicit", 3, none, 3},
		{"GOMAXPROCS wins", 3, func(k string) string {
			if k == "GOMAXPROCS" {
				return "5"
			}
			return ""
		}, before},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, restore := applyProcs(tc.procs, tc.env, log)
			if n != tc.want || runtime.GOMAXPROCS(0) != tc.want {
				t.Errorf("applyProcs(%d) = %d, GOMAXPROCS %d; want %d", tc.procs, n, runtime.GOMAXPROCS(0), tc.want)
			}
			restore()
			if got := runtime.GOMAXPROCS(0); got != before {
				t.Errorf("after restore GOMAXPROCS %d, want %d", got, before)
			}
		})
	}
}
