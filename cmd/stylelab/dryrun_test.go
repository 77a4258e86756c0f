package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dryReport is the --dry-run --json object.
type dryReport struct {
	DryRun       bool   `json:"dry_run"`
	Kind         string `json:"kind"`
	Computation  string `json:"computation"`
	Peak         int64  `json:"peak_bytes"`
	Available    int64  `json:"available_bytes"`
	Source       string `json:"available_source"`
	Image        []int  `json:"image"`
	Fits         bool   `json:"fits"`
	Error        string `json:"error"`
	Computations []struct {
		Name string `json:"name"`
		Peak int64  `json:"peak_bytes"`
	} `json:"computations"`
}

// memlogPeaks parses the STYLELAB_CPU_MEMLOG=1 lines of stderr: the backend's own estimate per compiled
// computation ("compiled NAME: … peak X MB").
func memlogPeaks(stderr string) map[string]string {
	re := regexp.MustCompile(`cpu backend: compiled "([^"]+)": \d+ ops, memory estimate: peak ([0-9.]+ [MG]B)`)
	out := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(stderr, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// gbText is cpubackend's rendering of bytes in its log (gb).
func gbText(b int64) string {
	if b >= 1<<30 {
		return fmt.Sprintf("%.2f GB", float64(b)/(1<<30))
	}
	return fmt.Sprintf("%.0f MB", float64(b)/(1<<20))
}

func noFile(t *testing.T, path, what string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Errorf("%s: %s was written", what, path)
	}
}

// TestDryRunCLI: --dry-run of run, train and stylize prints the estimate of every computation the real run
// compiles — the same figures the backend logs (STYLELAB_CPU_MEMLOG=1) when the real run compiles them — the
// available memory and its source and the verdict, and records and writes nothing; a limit below the estimate
// (STYLELAB_MEMORY_LIMIT) makes the dry run say it would not fit (exit 1) and the real run stop before its
// first step (exit 1, recorded FAILED with the estimate, the limit and the size that fits; no output).
func TestDryRunCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: compiles the networks of three runs")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	ckpt := filepath.Join(dir, "m.safetensors")
	styles := "../../images/style/vangogh_starry_night.jpg,../../images/style/hokusai_great_wave.jpg"
	// A checkpoint for stylize (recorded elsewhere, so that db holds only what the dry runs would record).
	if r := runStylelab(t, nil, "train", "--preset", "tiny", "--styles", styles, "--content-dir", "../../images/content",
		"--steps", "1", "--out", ckpt, "--no-track"); r.code != 0 {
		t.Fatalf("train: exit %d\n%s", r.code, r.stderr)
	}
	memlog := []string{"STYLELAB_CPU_MEMLOG=1", "GOMLX_BACKEND=cpu"}
	cases := []struct {
		name string
		args []string
		out  string
	}{
		{"run", []string{"run", "--content", testContent, "--style", testStyle, "--size", "48", "--steps", "2"}, "run.png"},
		{"train", []string{"train", "--preset", "tiny", "--styles", styles, "--content-dir", "../../images/content", "--steps", "2"}, "t.safetensors"},
		{"stylize", []string{"stylize", "--model", ckpt, "--content", testContent, "--size", "40", "--style", "1"}, "s.png"},
	}
	for _, c := range cases {
		out := filepath.Join(dir, c.out)
		args := append(append([]string{}, c.args...), "--out", out, "--db", db)
		r := runStylelab(t, memlog, append(args, "--dry-run", "--json")...)
		if r.code != 0 {
			t.Fatalf("%s --dry-run: exit %d\n%s\n%s", c.name, r.code, r.stdout, r.stderr)
		}
		var rep dryReport
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("%s --dry-run --json: %v\n%s", c.name, err, r.stdout)
		}
		if !rep.DryRun || !rep.Fits || rep.Peak <= 0 || rep.Available <= rep.Peak || rep.Source == "" || len(rep.Image) != 4 {
			t.Errorf("%s --dry-run: %+v", c.name, rep)
		}
		logged := memlogPeaks(r.stderr)
		for _, comp := range rep.Computations {
			if logged[comp.Name] != gbText(comp.Peak) {
				t.Errorf("%s: computation %q: dry run reports %s, the backend logged %q", c.name, comp.Name, gbText(comp.Peak), logged[comp.Name])
			}
			if comp.Peak > rep.Peak {
				t.Errorf("%s: computation %q peaks at %d, above the reported peak %d", c.name, comp.Name, comp.Peak, rep.Peak)
			}
		}
		noFile(t, out, c.name+" --dry-run")
		noFile(t, db, c.name+" --dry-run")
		// The text form says the same.
		txt := runStylelab(t, nil, append(args, "--dry-run")...)
		for _, want := range []string{"estimated peak: " + strings.TrimSuffix(gbText(rep.Peak), " MB"), "available: ", "fits: yes"} {
			if txt.code != 0 || !strings.Contains(txt.stdout, want) {
				t.Errorf("%s --dry-run: exit %d, output lacks %q:\n%s", c.name, txt.code, want, txt.stdout)
			}
		}
		// The real run compiles the computations the dry run reported, with the same estimates.
		real := runStylelab(t, memlog, append(append([]string{}, args[:len(args)-2]...), "--no-track")...)
		if real.code != 0 {
			t.Fatalf("%s: exit %d\n%s", c.name, real.code, real.stderr)
		}
		realLog := memlogPeaks(real.stderr)
		if realLog[rep.Computation] != gbText(rep.Peak) {
			t.Errorf("%s: the real run's %q estimate is %q, the dry run said %s", c.name, rep.Computation, realLog[rep.Computation], gbText(rep.Peak))
		}
		os.Remove(out)

		// A limit below the estimate: the dry run says no, the run stops at once.
		// (Half the smallest computation's estimate: storage kept from earlier computations counts as available.)
		smallest := rep.Peak
		for _, comp := range rep.Computations {
			if comp.Peak > 1<<20 {
				smallest = min(smallest, comp.Peak)
			}
		}
		limit := []string{fmt.Sprintf("STYLELAB_MEMORY_LIMIT=%d", smallest/2)}
		dr := runStylelab(t, limit, append(args, "--dry-run")...)
		if dr.code != 1 || !strings.Contains(dr.stdout, "fits: no") || !strings.Contains(dr.stderr, "would fit") {
			t.Errorf("%s --dry-run under a limit: exit %d\n%s\n%s", c.name, dr.code, dr.stdout, dr.stderr)
		}
		noFile(t, db, c.name+" --dry-run under a limit")
		rr := runStylelab(t, limit, append(args, "--json")...)
		if rr.code != 1 || !strings.Contains(rr.stdout+rr.stderr, "STYLELAB_MEMORY_LIMIT=") || !strings.Contains(rr.stdout+rr.stderr, "would fit") {
			t.Errorf("%s under a limit: exit %d\n%s\n%s", c.name, rr.code, rr.stdout, rr.stderr)
		}
		noFile(t, out, c.name+" under a limit")
		ls := runStylelab(t, nil, "runs", "ls", "--db", db)
		if strings.Contains(ls.stdout, "RUNNING") || strings.Contains(ls.stdout, "FINISHED") || !strings.Contains(ls.stdout, "FAILED") {
			t.Errorf("%s under a limit: the runs are\n%s", c.name, ls.stdout)
		}
		os.Remove(db)
	}
}
