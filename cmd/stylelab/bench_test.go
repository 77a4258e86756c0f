package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestBenchJSON runs `stylelab bench --json` at the smallest size with one timed step (each row in a child
// process) and checks the JSON shape: one row per size and work, with positive finite seconds, the backend, and
// the peak RSS of the row's own child process.
func TestBenchJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("measures two rows")
	}
	r := runStylelab(t, nil, "bench", "--json", "--sizes", "32", "--steps", "1", "--warmup", "0", "--work", "gatys-adam,forward")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, r.stdout)
	}
	if len(rows) != 2 || rows[0]["work"] != "gatys-adam" || rows[1]["work"] != "forward" {
		t.Fatalf("rows: %v", rows)
	}
	for _, row := range rows {
		for _, k := range []string{"seconds", "peak_rss_bytes", "cpu_seconds"} {
			v, ok := row[k].(float64)
			if !ok || !(v > 0) || math.IsInf(v, 0) {
				t.Errorf("%v: %s = %v, want a positive finite number", row["work"], k, row[k])
			}
		}
		if row["size"] != 32.0 || row["backend"] == "" || row["peak_rss_scope"] != "row (child process)" {
			t.Errorf("row %v", row)
		}
	}
	if !strings.Contains(r.stderr, "bench: gatys-adam at 32 px") {
		t.Errorf("no progress on stderr:\n%s", r.stderr)
	}
}

// TestBenchUsageErrors: bad flags exit with status 2 and a message naming the problem.
func TestBenchUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sizes", "8"}, "between 32 and"},
		{[]string{"--sizes", "a,b"}, "comma-separated integers"},
		{[]string{"--sizes", ","}, "--sizes is empty"},
		{[]string{"--steps", "0"}, "steps must be between 1"},
		{[]string{"--work", "gatys-sgd"}, "use gatys-adam"},
		{[]string{"--nope"}, "not defined"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"--row", "gatys-adam"}, "WORK:SIZE"},
	} {
		r := runStylelab(t, nil, append([]string{"bench"}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("bench %v: exit %d, stderr %q; want exit 2 and %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}
