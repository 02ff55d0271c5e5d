package main

import (
	"log/slog"
	"runtime"
)

// applyProcs sets how many CPUs may run the gateway's Go code at once to procs when it is
// positive; 0 keeps the Go runtime's default (the CPUs the process may use, its cgroup's CPU
// limit included), and a GOMAXPROCS environment variable wins over both. It returns the
// setting in force and a func that puts back the one found.
//
// Fewer than the CPUs is a trade-off measured on the project's 2-CPU machine, where the clients
// and Redis share the CPUs (README, "Benchmarks"): one P instead of two served about 1.3 times
// the requests at 50 connections with a third less CPU per request and a lower p99 (Go's
// scheduler spends less spreading a request's goroutines over CPUs), but about 0.7 times at
// 1,000 connections, where the gateway needs more than one CPU.
func applyProcs(procs int, getenv func(string) string, log *slog.Logger) (int, func()) {
	prev := runtime.GOMAXPROCS(0)
	switch {
	case getenv("GOMAXPROCS") != "":
		log.Info("procs", "n", prev, "from", "GOMAXPROCS")
		return prev, func() {}
	case procs <= 0:
		log.Info("procs", "n", prev, "from", "Go's default: the CPUs available")
		return prev, func() {}
	}
	runtime.GOMAXPROCS(procs)
	log.Info("procs", "n", procs, "cpus", prev, "from", "--procs")
	return procs, func() { runtime.GOMAXPROCS(prev) }
}
