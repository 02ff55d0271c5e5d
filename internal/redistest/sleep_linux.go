package redistest

import (
	"syscall"
	"time"
)

// timerSlack is how late Linux lets a sleeping thread wake by default (prctl PR_SET_TIMERSLACK),
// and so how early sleepUntil may return.
const timerSlack = 50 * time.Microsecond

// sleepUntil returns about at t. Go's timers wake an idle process up to a millisecond late, which
// would turn a 250 µs delay into 1.1 ms, so waits under 2 ms use nanosleep instead, asking to
// wake timerSlack early since the kernel wakes about that late. It blocks the goroutine's thread,
// not a CPU (no spinning); the runtime lends the thread's P to other goroutines meanwhile. What
// remains is the machine's wake-up latency (about 50 µs on this project's VM).
func sleepUntil(t time.Time) {
	d := time.Until(t)
	switch {
	case d >= 2*time.Millisecond:
		time.Sleep(d)
	case d > timerSlack:
		ts := syscall.NsecToTimespec(int64(d - timerSlack))
		for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
		}
	}
}
