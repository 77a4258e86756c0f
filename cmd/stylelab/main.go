// Command stylelab runs, records and compares neural style transfer experiments.
//
// Each command group lives in its own file and registers itself in init; main only dispatches.
// Exit status: 0 on success, 1 when the command failed, 2 on a usage error, 128+N when a run was stopped by
// signal N (130 for SIGINT, 143 for SIGTERM; see runner.Interrupted).
// With --json anywhere among a command's arguments (before a "--"), a failure is also written to stdout as
// one JSON object, {"error", "kind", "command", "exit_code"}, by main for every command (see jsonError).
// Every command also takes --artifacts DIR, the artifact folder of a PostgreSQL store (STYLELAB_ARTIFACTS).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/stylelab/stylelab/jobs/runner"
	"github.com/stylelab/stylelab/tracker"
)

// command is one `stylelab NAME ...` sub-command.
type command struct {
	name    string
	summary string
	run     func(args []string) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// usageError marks errors caused by bad flags or arguments (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// reportedError wraps the error of a command that has already written its outcome to stdout as JSON (runs
// check --json, rerun --json): with --json, main adds no error object after it; the exit status is kept.
type reportedError struct{ error }

func (e reportedError) Unwrap() error { return e.error }

func usage() {
	fmt.Fprintln(os.Stderr, "usage: stylelab COMMAND [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(os.Stderr, "\nRun 'stylelab COMMAND -h' for the flags of one command.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "stylelab: unknown command %q\n", os.Args[1])
		usage()
		if wantsJSON(os.Args[2:]) {
			writeJSONError(os.Stdout, os.Args[1], usagef("unknown command %q: see 'stylelab help'", os.Args[1]), 2)
		}
		os.Exit(2)
	}
	args, err := takeArtifactsFlag(os.Args[2:])
	if err == nil {
		err = c.run(args)
	}
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return
	}
	fmt.Fprintf(os.Stderr, "stylelab %s: %v\n", c.name, err)
	code := 1
	var ue usageError
	if errors.As(err, &ue) {
		code = 2
	}
	var in *runner.Interrupted
	if errors.As(err, &in) { // stopped by SIGINT/SIGTERM: 130/143, as the shell reports a process the signal ended
		code = in.ExitCode()
	}
	var re reportedError
	if wantsJSON(os.Args[2:]) && !errors.As(err, &re) {
		writeJSONError(os.Stdout, c.name, err, code)
	}
	os.Exit(code)
}

// takeArtifactsFlag removes `--artifacts DIR` (or `--artifacts=DIR`, one dash or two) from args, before any
// "--", and puts DIR in STYLELAB_ARTIFACTS for this process and every process it starts (sweep workers, Slurm
// tasks), so every command takes it: the artifact folder of a PostgreSQL store (a SQLite file keeps its
// artifacts beside it). Given twice, the last wins.
func takeArtifactsFlag(args []string) ([]string, error) {
	out := make([]string, 0, len(args))
	dir, seen := "", false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			out = append(out, args[i:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "artifacts" {
			out = append(out, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
				return nil, usagef("--artifacts needs a folder: --artifacts /shared/stylelab/artifacts")
			}
			i++
			val = args[i]
		}
		if strings.TrimSpace(val) == "" {
			return nil, usagef("--artifacts needs a folder: --artifacts /shared/stylelab/artifacts")
		}
		dir, seen = val, true
	}
	if seen {
		if err := os.Setenv("STYLELAB_ARTIFACTS", dir); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// wantsJSON reports whether args ask for JSON output: --json or -json (or --json=true), before any "--".
func wantsJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "json" {
			continue
		}
		if !hasVal {
			return true
		}
		b, err := strconv.ParseBool(val)
		return err == nil && b
	}
	return false
}

// jsonError is what a failed command writes to stdout with --json. Kind is "usage" (exit code 2), or
// "not_found", "damaged", "read_only" or "error" (exit code 1).
type jsonError struct {
	Error    string `json:"error"`
	Kind     string `json:"kind"`
	Command  string `json:"command"`
	ExitCode int    `json:"exit_code"`
}

func writeJSONError(w io.Writer, command string, err error, code int) {
	kind := "error"
	var ue usageError
	switch {
	case errors.As(err, &ue):
		kind = "usage"
	case errors.Is(err, tracker.ErrNotFound):
		kind = "not_found"
	case errors.Is(err, tracker.ErrDamaged):
		kind = "damaged"
	case errors.Is(err, tracker.ErrReadOnly):
		kind = "read_only"
	case errors.As(err, new(*runner.Interrupted)):
		kind = "interrupted"
	}
	b, _ := json.Marshal(jsonError{Error: err.Error(), Kind: kind, Command: command, ExitCode: code})
	fmt.Fprintf(w, "%s\n", b)
}

// newFlags returns a flag set for a sub-command that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("stylelab "+name, flag.ContinueOnError)
	return fs
}

// acceptJSON gives a command that has no --json flag of its own one that only asks main for JSON errors,
// so that --json never turns into a usage error. parseFlags and runsParseArgs call it: every command gets it.
func acceptJSON(fs *flag.FlagSet) {
	if fs.Lookup("json") == nil {
		fs.Bool("json", false, "on failure, also print the error as a JSON object on stdout")
	}
}

// parseFlags parses args and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	acceptJSON(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}
