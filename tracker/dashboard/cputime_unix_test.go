//go:build unix

package dashboard

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used so far. Benchmarks report it per op
// beside wall time: on a machine shared with other work, wall time varies with their load, CPU time much less.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
