package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
)

// RunChild measures one row in a child process, so that its peak RSS is that row's alone: it runs exe with
// args (a command that prints the row as one JSON object on stdout, e.g. `stylelab bench --row gatys-adam:128`),
// passes the child's stderr (progress) to stderr, and sets PeakRSSBytes from the child's getrusage
// (ru_maxrss, read by the parent when the child exits) and PeakRSSScope to ScopeChild.
func RunChild(exe string, args []string, env []string, stderr io.Writer) (Row, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, stderr
	if err := cmd.Run(); err != nil {
		return Row{}, fmt.Errorf("%s %s: %w", exe, strings.Join(args, " "), err)
	}
	var row Row
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &row); err != nil {
		return Row{}, fmt.Errorf("%s %s printed no JSON row (%v): %q", exe, strings.Join(args, " "), err, out.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		row.PeakRSSBytes, row.PeakRSSScope = ru.Maxrss*1024, ScopeChild
	}
	return row, row.Check()
}
