package setup

import (
	"os"
	"syscall"
)

// lockHolder reports whether another process holds an fcntl lock on path that would block a write lock
// (F_GETLK), and its pid.
func lockHolder(path string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	if err := syscall.FcntlFlock(f.Fd(), syscall.F_GETLK, &lk); err != nil {
		return 0, false
	}
	return int(lk.Pid), lk.Type != syscall.F_UNLCK
}
