// Command stylelab runs, records and compares neural style transfer experiments.
//
// Each command group lives in its own file and registers itself in init; main only dispatches.
// Exit status: 0 on success, 1 when the command failed, 2 on a usage error, 128+N when a run was stopped by
// signal N (130 for SIGINT, 143 for SIGTERM; see runner.Interrupted).
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"

	"github.com/stylelab/stylelab/experiments/runner"
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
		os.Exit(2)
	}
	err := c.run(os.Args[2:])
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return
	}
	fmt.Fprintf(os.Stderr, "stylelab %s: %v\n", c.name, err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	var in *runner.Interrupted
	if errors.As(err, &in) { // stopped by SIGINT/SIGTERM: 130/143, as the shell reports a process the signal ended
		os.Exit(in.ExitCode())
	}
	os.Exit(1)
}

// newFlags returns a flag set for a sub-command that reports errors instead of exiting.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("stylelab "+name, flag.ContinueOnError)
	return fs
}

// parseFlags parses args and turns flag errors into usage errors.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	return nil
}
