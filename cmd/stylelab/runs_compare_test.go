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
