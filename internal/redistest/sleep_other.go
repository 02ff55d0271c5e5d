//go:build !linux

package redistest

import "time"

// timerSlack is how early sleepUntil may return: never, here.
const timerSlack = 0

// sleepUntil returns at t or a little after (on Linux, with a finer timer for short waits).
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
