package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunsCompareReport(t *testing.T) {
	db, ids := fillDashboardDB(t)
	out := filepath.Join(t.TempDir(), "report.html")
	var stdout bytes.Buffer
	// Flags after the ids work too.
	if err := runsCompareTo([]string{ids[0][:8], ids[1], "--db", db, "--out", out}, &stdout); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "wrote "+out) {
		t.Errorf("stdout: %q", stdout.String())
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	s := string(html)
	if n := strings.Count(s, "data:image/png;base64,"); n != 2 {
		t.Errorf("want 2 inlined images, got %d", n)
	}
	for _, bad := range []string{`src="/`, `href="/`, "<script src", `src="http`, `href="http`} {
		if strings.Contains(s, bad) {
			t.Errorf("report is not self-contained: contains %q", bad)
		}
	}
	for _, want := range []string{"lr-0.5", "lr-1", `class="differ"`, `data-stylelab-chart="metric-0"`, "stylelabCharts = {"} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("temporary files left beside the report: %v", entries)
	}
}

func TestRunsCompareErrors(t *testing.T) {
	db, ids := fillDashboardDB(t)
	var stdout bytes.Buffer
	cases := []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{ids[0], "--db", db}, true, "at least two run ids"},
		{[]string{ids[0], ids[1], "--db", db, "--max-points", "-1"}, true, "--max-points"},
		{[]string{ids[0], "ffffffff", "--db", db, "--out", filepath.Join(t.TempDir(), "x.html")}, false, "ffffffff"},
		{[]string{ids[0], ids[1], "--db", filepath.Join(t.TempDir(), "none.db")}, false, "no database"},
	}
	for _, c := range cases {
		err := runsCompareTo(c.args, &stdout)
		var ue usageError
		isUsage := err != nil && errors.As(err, &ue)
		if err == nil || isUsage != c.usage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("runs compare %v: %v (usage %v), want %q (usage %v)", c.args, err, isUsage, c.want, c.usage)
		}
	}
}

// Through the binary: `stylelab runs compare` is dispatched by the runs group, exits 0 on success and 2 on
// a usage error; `stylelab serve` with a bad --addr exits 2 too.
func TestRunsCompareAndServeCLI(t *testing.T) {
	db, ids := fillDashboardDB(t)
	out := filepath.Join(t.TempDir(), "c.html")
	if r := runStylelab(t, nil, "runs", "compare", ids[0], ids[1], "--db", db, "--out", out); r.code != 0 || !strings.Contains(r.stdout, "wrote") {
		t.Fatalf("runs compare: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() < 1e6 {
		t.Errorf("report %s: %v (it inlines ECharts, so it must exceed 1 MB)", out, err)
	}
	if r := runStylelab(t, nil, "runs", "compare", ids[0], "--db", db); r.code != 2 {
		t.Errorf("runs compare with one id: exit %d, want 2", r.code)
	}
	if r := runStylelab(t, nil, "serve", "--db", db, "--addr", "nope"); r.code != 2 || !strings.Contains(r.stderr, "HOST:PORT") {
		t.Errorf("serve --addr nope: exit %d, stderr %q", r.code, r.stderr)
	}
}
