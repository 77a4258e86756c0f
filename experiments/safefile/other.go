//go:build !unix

package safefile

import (
	"errors"
	"os"
)

const nonblock = 0

// lock: without flock, a temporary file's owner cannot be told alive or dead, so RemoveStale removes nothing.
func lock(f *os.File, try bool) error {
	if try {
		return errors.New("no flock on this platform")
	}
	return nil
}
