package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/bench"
)

// TestBenchJSON runs `stylelab bench --json` at the smallest size with one timed step (each row in a child
// process) and checks the JSON shape: one row per size and work, with positive finite seconds, the backend, and
// the peak RSS of the row's own child process; the inference row also carries ms_per_image = 1000·seconds.
func TestBenchJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("measures two rows")
	}
	r := runStylelab(t, nil, "bench", "--json", "--sizes", "32", "--steps", "1", "--warmup", "0", "--work", "gatys-adam,forward,inference")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("stdout is not a JSON array: %v\n%s", err, r.stdout)
	}
	if len(rows) != 3 || rows[0]["work"] != "gatys-adam" || rows[1]["work"] != "forward" || rows[2]["work"] != "inference" {
		t.Fatalf("rows: %v", rows)
	}
	if ms, ok := rows[2]["ms_per_image"].(float64); !ok || math.Abs(ms-1000*rows[2]["seconds"].(float64)) > 1e-9*ms {
		t.Errorf("inference row: ms_per_image %v, seconds %v: want 1000·seconds", rows[2]["ms_per_image"], rows[2]["seconds"])
	}
	if _, ok := rows[0]["ms_per_image"]; ok {
		t.Errorf("gatys-adam row has ms_per_image: %v", rows[0])
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

// TestBenchTableMsPerImage: the table prints MS/IMAGE for inference rows and "-" for the others.
func TestBenchTableMsPerImage(t *testing.T) {
	var out strings.Builder
	printBenchTable(&out, []bench.Row{
		{Work: "gatys-adam", Size: 64, Seconds: 0.5, Backend: "b"},
		{Work: "inference", Size: 64, Seconds: 0.0125, MsPerImage: 12.5, Backend: "b"},
	})
	lines := strings.Split(out.String(), "\n")
	if !strings.Contains(lines[0], "MS/IMAGE") || len(lines) < 3 {
		t.Fatalf("table:\n%s", out.String())
	}
	if f := strings.Fields(lines[1]); f[3] != "-" {
		t.Errorf("gatys-adam MS/IMAGE column %q, want -:\n%s", f[3], out.String())
	}
	if f := strings.Fields(lines[2]); f[2] != "0.0125" || f[3] != "12.5" {
		t.Errorf("inference S/STEP, MS/IMAGE = %q, %q, want 0.0125, 12.5:\n%s", f[2], f[3], out.String())
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
