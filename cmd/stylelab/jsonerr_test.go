package main

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// lastJSONError parses the last line of stdout as the error object main writes with --json.
func lastJSONError(t *testing.T, stdout string) (jsonError, bool) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var je jsonError
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &je); err != nil || je.Error == "" {
		return je, false
	}
	return je, true
}

// TestJSONErrorsForEveryCommand runs every registered command (and every runs sub-command) with a bad flag,
// and the commands that read a database with one that does not exist, with and without --json: with it,
// stdout ends with one JSON error object whose exit code is the process's, which is the same as without.
func TestJSONErrorsForEveryCommand(t *testing.T) {
	var cases [][]string
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		cases = append(cases, []string{n, "--no-such-flag-anywhere"})
	}
	subs := runsNames()
	for _, n := range subs {
		cases = append(cases, []string{"runs", n, "--no-such-flag-anywhere"})
	}
	missing := filepath.Join(t.TempDir(), "none", "stylelab.db")
	for _, n := range []string{"show", "export", "rm", "restore", "check", "compare", "diff"} {
		cases = append(cases, []string{"runs", n, "0123abcd", "4567abcd", "--db", missing})
	}
	cases = append(cases, []string{"serve", "--db", missing}, []string{"no-such-command"})
	for _, args := range cases {
		plain := runStylelab(t, nil, args...)
		if plain.code == 0 {
			t.Errorf("stylelab %s succeeded: a case that cannot fail tests nothing", strings.Join(args, " "))
			continue
		}
		js := runStylelab(t, nil, append(args, "--json")...)
		je, ok := lastJSONError(t, js.stdout)
		switch {
		case !ok:
			t.Errorf("stylelab %s --json: stdout %q is not a JSON error object (stderr %.200s)", strings.Join(args, " "), js.stdout, js.stderr)
		case js.code != plain.code || je.ExitCode != js.code:
			t.Errorf("stylelab %s: exit %d without --json, %d with (object says %d)", strings.Join(args, " "), plain.code, js.code, je.ExitCode)
		case (je.Kind == "usage") != (js.code == 2):
			t.Errorf("stylelab %s --json: kind %q with exit %d", strings.Join(args, " "), je.Kind, js.code)
		}
	}
	// --json=false and --json after "--" do not ask for JSON.
	if r := runStylelab(t, nil, "runs", "show", "--json=false", "--db", missing, "0123abcd"); strings.TrimSpace(r.stdout) != "" {
		t.Errorf("--json=false wrote %q to stdout", r.stdout)
	}
}
