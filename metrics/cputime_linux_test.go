package metrics

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time the calling OS thread has used (lock the goroutine to its
// thread first): on a shared machine it tells the work done apart from the time spent waiting.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
