package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/study"
	"github.com/stylelab/stylelab/tracker"
)

// writeFFStudy writes a tiny feed-forward study (gram: 2 single nets + 1 CIN net over 2 styles, 2 seeds, tiny
// preset, 2 steps, 32 px, 1 held-out photo).
func writeFFStudy(t *testing.T, dir string) (file, trainDir string) {
	t.Helper()
	trainDir = filepath.Join(dir, "train")
	os.MkdirAll(trainDir, 0o755)
	for _, n := range []string{"chelsea.jpg", "astronaut.jpg"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "images", "content", n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(trainDir, n), b, 0o644)
	}
	held, _ := filepath.Abs("../../images/content/colosseum.jpg")
	s1, _ := filepath.Abs(testStyle)
	s2, _ := filepath.Abs(testStyle2)
	body := fmt.Sprintf(`{"name": "ffcli", "feedforward": {"losses": ["gram"], "styles": [%q, %q], "content_dir": %q,
	  "held_out": [%q], "preset": "tiny", "steps": 2, "size": 32},
	  "seeds": [1, 2], "judge": {"projections": 16}, "statistics": {"bootstrap": 200, "seed": 3}}`, s1, s2, trainDir, held)
	file = filepath.Join(dir, "ff.json")
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return file, trainDir
}

// A feed-forward study file through the CLI: bad files refused naming the field with nothing recorded, the dry
// run's design, Slurm refused, then the study end to end: its runs recorded, the JSON's per-arm means equal to
// the judge scores recorded on the stylize runs, and the smoothness of the CIN arm.
func TestStudyFeedForward(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "runs", "t.db")
	env := []string{"STYLELAB_DB=" + db}
	file, trainDir := writeFFStudy(t, dir)
	good, _ := os.ReadFile(file)
	held, _ := filepath.Abs("../../images/content/colosseum.jpg")
	for _, c := range []struct{ old, new, want string }{
		{`"losses": ["gram"]`, `"losses": ["gramm"]`, `feedforward.losses[0] "gramm": not a loss`},
		{`"steps": 2`, `"stepz": 2`, `unknown field "stepz"`},
		{`"steps": 2`, `"steps": 0`, `feedforward.steps = 0`},
		{fmt.Sprintf("[%q]", held), `[]`, `feedforward.held_out is empty`},
		{`"preset": "tiny"`, `"preset": "huge"`, `feedforward.preset`},
		{`"seeds": [1, 2]`, `"arms": [{"name": "a", "set": {}}], "seeds": [1, 2]`, `"arms" with "feedforward"`},
		{`"seeds": [1, 2]`, `"seeds": [1]`, `one seed (1)`},
		{fmt.Sprintf("[%q]", held), fmt.Sprintf("[%q]", filepath.Join(trainDir, "chelsea.jpg")), "never be seen in training"},
	} {
		if !strings.Contains(string(good), c.old) {
			t.Fatalf("%q not in the study file", c.old)
		}
		bad := filepath.Join(t.TempDir(), "bad.json")
		os.WriteFile(bad, []byte(strings.Replace(string(good), c.old, c.new, 1)), 0o644)
		if r := runStylelab(t, env, "study", bad); r.code != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want 1 and %q", c.new, r.code, r.stderr, c.want)
		}
	}
	if r := runStylelab(t, env, "study", file, "--executor", "slurm"); r.code != 2 || !strings.Contains(r.stderr, "not supported for the \"feedforward\" form") {
		t.Errorf("--executor slurm: exit %d %s", r.code, r.stderr)
	}
	r := runStylelab(t, env, "study", file, "--dry-run")
	// 2 seeds × (2 single + 1 cin trainings, 2·2·1 judged stylize, 1·5 path stylize) = 24.
	if r.code != 0 || !strings.Contains(r.stdout, "24 runs: 6 trainings + 8 judged stylize + 10 interpolation-path stylize (nothing started)") ||
		!strings.Contains(r.stdout, "gram/single, gram/cin") || !strings.Contains(r.stdout, "colosseum×") {
		t.Errorf("dry run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := os.Stat(db); err == nil {
		if st, err := tracker.Open(db); err == nil {
			runs, _ := st.Search("", "", 0)
			st.Close()
			if len(runs) != 0 {
				t.Fatalf("refused files and the dry run recorded %d runs", len(runs))
			}
		}
	}
	r = runStylelab(t, env, "study", file, "--json")
	if r.code != 0 {
		t.Fatalf("study: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "run 24/24 done") {
		t.Errorf("no progress on stderr: %s", r.stderr)
	}
	var out struct {
		ID         string          `json:"id"`
		Runs       int             `json:"runs"`
		Summaries  []study.Summary `json:"summaries"`
		Findings   []string        `json:"findings"`
		Evaluation string          `json:"evaluation"`
		Smoothness map[string]struct {
			Fraction        float64
			Monotone, Paths int
		} `json:"smoothness"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if out.ID == "" || out.Runs != 24 || len(out.Findings) != 1 {
		t.Errorf("id %q, %d runs, %d findings; want 24 runs and 1 finding (gram/single vs gram/cin)", out.ID, out.Runs, len(out.Findings))
	}
	sm, ok := out.Smoothness["gram/cin"]
	if !ok || sm.Paths != 10 || sm.Fraction != float64(sm.Monotone)/10 {
		t.Errorf("smoothness %+v: want gram/cin over 10 paths (2 seeds × 1 content × 5 judge losses)", out.Smoothness)
	}
	if _, ok := out.Smoothness["gram/single"]; ok {
		t.Error("a single-style arm has no interpolation path, but smoothness was reported for it")
	}
	st, err := tracker.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	all, err := st.Search(fmt.Sprintf("experiment = '%s'", out.ID), "", 0)
	if err != nil || len(all) != 25 {
		t.Fatalf("runs recorded under experiment %s: %d (%v), want 24 and the evaluation", out.ID, len(all), err)
	}
	// Balanced design (every unit has both seeds): the arm's mean over units of seed means is the mean of its
	// 4 judged runs' judge/ssim, as recorded on the runs.
	for _, kind := range []string{"single", "cin"} {
		judged, err := st.Search(fmt.Sprintf("experiment = '%s' AND tags.`study.feedforward.arm` = '%s'", out.ID, kind), "", 0)
		if err != nil || len(judged) != 4 {
			t.Fatalf("%s: %d judged runs (%v), want 2 styles × 2 seeds", kind, len(judged), err)
		}
		sum := 0.0
		for _, j := range judged {
			sum += j.Latest[study.MetricSSIM]
		}
		found := false
		for _, s := range out.Summaries {
			if s.Arm == "gram/"+kind && s.Metric == study.MetricSSIM {
				found = true
				if math.Abs(s.CI.Estimate-sum/4) > 1e-9*math.Abs(sum) || s.Units != 2 || s.Seeds != 4 || !(s.CI.Lo <= s.CI.Estimate && s.CI.Estimate <= s.CI.Hi) || s.CI.Resamples != 200 {
					t.Errorf("gram/%s judge/ssim summary %+v; recorded runs' mean %v", kind, s, sum/4)
				}
			}
		}
		if !found {
			t.Errorf("no gram/%s judge/ssim summary", kind)
		}
	}
	// The report renders from the evaluation run: the arms, and the CIN arm's smoothness as a note.
	html := filepath.Join(dir, "report.html")
	if r := runStylelab(t, env, "study", "report", out.ID, "--out", html); r.code != 0 {
		t.Fatalf("study report: exit %d %s%s", r.code, r.stdout, r.stderr)
	}
	page, _ := os.ReadFile(html)
	if !strings.Contains(string(page), "gram/cin") || !strings.Contains(string(page), fmt.Sprintf("Interpolation smoothness of gram/cin: %d of 10 paths monotone", sm.Monotone)) {
		t.Errorf("report (%d bytes) lacks the arms or the smoothness", len(page))
	}
	if ev, err := st.GetRun(out.Evaluation); err != nil || ev.Tags["study.id"] != out.ID || ev.Tags["study.role"] != "evaluation" {
		t.Errorf("evaluation run %q: %v %v", out.Evaluation, ev.Tags, err)
	}
}
