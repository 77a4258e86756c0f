package setup

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// AptLockFiles are the files apt and dpkg lock (POSIX fcntl write locks) while they work: dpkg's frontend lock,
// which apt, unattended-upgrades and packagekit take first, dpkg's own lock, and the package lists' lock that
// `apt-get update` takes. Install waits until none is held before each apt-get call.
var AptLockFiles = []string{"/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock"}

// AptLockWait bounds how long Install waits for another package manager (unattended upgrades on a fresh
// machine often run for minutes). $STYLELAB_APT_LOCK_WAIT (a Go duration such as 20m) overrides it.
var AptLockWait = 10 * time.Minute

// aptLockWait is AptLockWait, or $STYLELAB_APT_LOCK_WAIT when it is a valid duration.
func aptLockWait() (time.Duration, error) {
	if s := os.Getenv("STYLELAB_APT_LOCK_WAIT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return 0, fmt.Errorf("STYLELAB_APT_LOCK_WAIT=%q is not a duration such as 10m", s)
		}
		return d, nil
	}
	return AptLockWait, nil
}

// WaitForLocks waits until no other process holds a lock on any of files, checking every poll, for at most
// timeout. It says once on log which process it is waiting for, and fails after timeout naming the lock, the
// holder and what to do. A file that does not exist or cannot be opened is not waited for (apt-get's own
// DPkg::Lock::Timeout, which Install also sets, covers what cannot be seen from here).
func WaitForLocks(files []string, timeout, poll time.Duration, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	deadline := time.Now().Add(timeout)
	said := ""
	for {
		file, pid := "", 0
		for _, f := range files {
			if p, held := lockHolder(f); held {
				file, pid = f, p
				break
			}
		}
		if file == "" {
			return nil
		}
		holder := "process " + strconv.Itoa(pid)
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && len(b) > 1 {
			holder = fmt.Sprintf("%s (pid %d)", string(b[:len(b)-1]), pid)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still holds %s after waiting %v: another package manager is running (unattended upgrades?); wait for it to finish and rerun, or raise the wait with STYLELAB_APT_LOCK_WAIT=30m",
				holder, file, timeout)
		}
		if msg := file + " " + holder; msg != said {
			fmt.Fprintf(log, "wait      %s holds %s: waiting up to %v for it to finish\n", holder, file, time.Until(deadline).Round(time.Second))
			said = msg
		}
		time.Sleep(min(poll, max(time.Until(deadline), time.Millisecond)))
	}
}
