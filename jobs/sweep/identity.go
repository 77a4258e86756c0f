package sweep

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// A local supervisor is known by its pid and its identity: the host it runs on, the boot of that host
// (/proc/sys/kernel/random/boot_id) and its start time (/proc/PID/stat field 22, clock ticks after boot). A pid is
// reused once its process ends, and another host sharing the sweep folder has pids of its own; the identity tells
// the recorded process from any other: same host, same boot and same start time is the same process.

// Liveness is what the record of a local supervisor says about it now (Submission.Check).
type Liveness int

const (
	// WorkerEnded: it has ended (no process has the pid, or it has exited and is not yet reaped).
	WorkerEnded Liveness = iota
	// WorkerReplaced: it has ended, and the pid is another process's now (a different start time), or the
	// machine has rebooted since; that process must be left alone.
	WorkerReplaced
	// WorkerAlive: it runs on this host, identity confirmed.
	WorkerAlive
	// WorkerElsewhere: it was started on another host; it can be neither checked nor signalled from here.
	WorkerElsewhere
	// WorkerUnconfirmed: a process has the pid, but the record holds no identity (written by an older stylelab)
	// or this system cannot show one, so it cannot be told from another process that reuses the pid.
	WorkerUnconfirmed
)

// procDir is /proc (a variable for tests).
var procDir = "/proc"

// hostname is os.Hostname, "" when it fails.
func hostname() string {
	h, _ := os.Hostname()
	return h
}

// bootID is this boot's /proc/sys/kernel/random/boot_id ("" when unreadable).
func bootID() string {
	b, err := os.ReadFile(procDir + "/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStat reads /proc/PID/stat: the state (field 3: R, S, Z…) and the start time (field 22, clock ticks after
// boot). The fields are counted after the command name, which is in parentheses and may hold spaces and ')'.
func procStat(pid int) (state string, startTicks uint64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procDir, pid))
	if err != nil {
		return "", 0, err
	}
	j := strings.LastIndexByte(string(b), ')')
	if j < 0 {
		return "", 0, fmt.Errorf("%s/%d/stat has no command name", procDir, pid)
	}
	f := strings.Fields(string(b[j+1:])) // f[0] is field 3
	if len(f) < 20 {
		return "", 0, fmt.Errorf("%s/%d/stat has %d fields, want at least 22", procDir, pid, len(f)+2)
	}
	startTicks, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return "", 0, fmt.Errorf("%s/%d/stat: start time %q: %w", procDir, pid, f[19], err)
	}
	return f[0], startTicks, nil
}

// recordIdentity fills s.Host, s.BootID and s.StartTicks from the live process s.PID (left empty where this
// system does not show them: such a record reads WorkerUnconfirmed later).
func (s *Submission) recordIdentity() {
	s.Host, s.BootID = hostname(), bootID()
	if _, t, err := procStat(s.PID); err == nil {
		s.StartTicks = t
	}
}

// Check says whether the local supervisor of s still runs, with the reason in words when it is not plainly
// alive or gone.
func (s Submission) Check() (Liveness, string) {
	if s.PID <= 0 {
		return WorkerEnded, "no process was recorded"
	}
	if s.Host == "" || s.BootID == "" || s.StartTicks == 0 {
		if err := syscall.Kill(s.PID, 0); errors.Is(err, syscall.ESRCH) {
			return WorkerEnded, fmt.Sprintf("no process has pid %d", s.PID)
		}
		return WorkerUnconfirmed, fmt.Sprintf("local worker pid %d was recorded without its identity (host, boot id, start time; an older stylelab wrote the record), so process %d cannot be told from another that reuses the pid", s.PID, s.PID)
	}
	if h := hostname(); h != s.Host {
		return WorkerElsewhere, fmt.Sprintf("local worker pid %d runs on host %q, not on this host (%q)", s.PID, s.Host, h)
	}
	b := bootID()
	if b == "" {
		return WorkerUnconfirmed, fmt.Sprintf("this system shows no boot id (%s/sys/kernel/random/boot_id), so local worker pid %d cannot be confirmed", procDir, s.PID)
	}
	if b != s.BootID {
		return WorkerReplaced, fmt.Sprintf("local worker pid %d ran in an earlier boot of %s (boot id %s, now %s)", s.PID, s.Host, s.BootID, b)
	}
	state, start, err := procStat(s.PID)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return WorkerEnded, fmt.Sprintf("no process has pid %d", s.PID)
	case err != nil:
		return WorkerUnconfirmed, fmt.Sprintf("local worker pid %d cannot be confirmed: %v", s.PID, err)
	case start != s.StartTicks:
		return WorkerReplaced, fmt.Sprintf("pid %d is now another process (started at tick %d after boot; the sweep's worker started at tick %d), which was left alone", s.PID, start, s.StartTicks)
	case state == "Z" || state == "X":
		return WorkerEnded, fmt.Sprintf("local worker pid %d has exited", s.PID)
	}
	return WorkerAlive, ""
}
