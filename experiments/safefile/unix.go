//go:build unix

package safefile

import (
	"os"
	"syscall"
)

// nonblock makes opening a FIFO return at once instead of waiting for a writer.
const nonblock = syscall.O_NONBLOCK

// lock takes an exclusive flock on f, without waiting when try is set (an error then means another process
// holds it).
func lock(f *os.File, try bool) error {
	how := syscall.LOCK_EX
	if try {
		how |= syscall.LOCK_NB
	}
	return syscall.Flock(int(f.Fd()), how)
}
