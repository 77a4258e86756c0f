package bench

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/gatys"
)

// TestMeasureRows measures every registered work at the smallest size with one timed step, in this process,
// and checks the row: times positive and finite, samples as many as steps, identification filled, L-BFGS with
// at least one evaluation per step, the feed-forward rows with ms_per_image = 1000·seconds (inference) and a
// positive finite training loss (train-step, train-step-paper), and the JSON encoding carrying the documented keys.
func TestMeasureRows(t *testing.T) {
	for _, w := range Works() {
		row, err := Measure(w, Setup{Size: MinSize, Steps: 1, Warmup: 0})
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		if row.Work != w.Name || row.Size != MinSize || len(row.Samples) != 1 || row.Seconds != row.Samples[0] {
			t.Errorf("%s: row %+v: want work %s, size %d and one sample equal to seconds", w.Name, row, w.Name, MinSize)
		}
		if row.PeakRSSBytes <= 0 || row.PeakRSSScope != ScopeProcess || row.CPU == "" || row.MatmulEngine == "" || row.Threads < 1 {
			t.Errorf("%s: machine fields not filled: %+v", w.Name, row)
		}
		if w.Name == "gatys-lbfgs" && row.EvalsPerStep < 1 {
			t.Errorf("gatys-lbfgs: %v evaluations per step, want ≥ 1", row.EvalsPerStep)
		}
		inference := strings.HasPrefix(w.Name, "inference")
		if inference != (row.MsPerImage != 0) || (inference && math.Abs(row.MsPerImage-1000*row.Seconds) > 1e-9*row.MsPerImage) {
			t.Errorf("%s: ms per image %v with seconds %v: want 1000·seconds for inference rows, 0 otherwise", w.Name, row.MsPerImage, row.Seconds)
		}
		if !(row.CPUSeconds > 0) || math.IsInf(row.CPUSeconds, 0) {
			t.Errorf("%s: CPU seconds %v, want a positive finite number", w.Name, row.CPUSeconds)
		}
		if (strings.HasPrefix(w.Name, "gatys") || strings.HasPrefix(w.Name, "train-step")) && (!(row.Loss > 0) || math.IsInf(row.Loss, 0)) {
			t.Errorf("%s: loss %v, want > 0", w.Name, row.Loss)
		}
		data, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		keys := []string{"work", "size", "seconds", "samples", "cpu_seconds", "backend", "peak_rss_bytes", "matmul_engine", "cpu"}
		if inference {
			keys = append(keys, "ms_per_image")
		} else if _, ok := m["ms_per_image"]; ok {
			t.Errorf("%s: JSON row has ms_per_image: %s", w.Name, data)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: JSON row lacks %q: %s", w.Name, k, data)
			}
		}
	}
}

func TestSetupValidate(t *testing.T) {
	for _, s := range []Setup{{Size: 16, Steps: 1}, {Size: 64, Steps: 0}, {Size: 64, Steps: 1, Warmup: -1}, {Size: 4096, Steps: 1}} {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v: want an error", s)
		}
	}
	if err := (Setup{Size: 64, Steps: 2}).Validate(); err != nil {
		t.Error(err)
	}
	if _, err := Lookup("nope"); err == nil || !strings.Contains(err.Error(), "gatys-adam") || !strings.Contains(err.Error(), "train-step") {
		t.Errorf("Lookup(nope) = %v, want an error listing the works", err)
	}
	if got, want := strings.Join(DefaultWorkNames(), ","), "gatys-adam,gatys-lbfgs,forward"; got != want {
		t.Errorf("DefaultWorkNames() = %s, want %s (the feed-forward rows only when named)", got, want)
	}
}

func TestRowCheckRejectsBadTimes(t *testing.T) {
	good := Row{Work: "w", Size: 32, Seconds: 1, Samples: []float64{1}, Backend: "b"}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(r *Row){
		func(r *Row) { r.Seconds = 0 },
		func(r *Row) { r.Seconds = math.Inf(1) },
		func(r *Row) { r.Samples = []float64{math.NaN()} },
		func(r *Row) { r.Samples = nil },
		func(r *Row) { r.Backend = "" },
		func(r *Row) { r.EvalsPerStep = 2 },
		func(r *Row) { r.MsPerImage = math.NaN() },
	} {
		r := good
		bad(&r)
		if err := r.Check(); err == nil {
			t.Errorf("%+v: want an error", r)
		}
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median odd = %v", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median even = %v", m)
	}
}

// TestExportCheck writes the peer's check files and reads them back: the JSON has CheckSteps+1 finite reports
// whose style terms are Σ λ_l · per-layer terms, and the inputs file holds the three images.
func TestExportCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two Adam steps")
	}
	dir := t.TempDir()
	if _, err := ExportCheck(dir, MinSize, nil); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back CheckFile
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Steps) != CheckSteps+1 || back.Config.Init != "noise" {
		t.Fatalf("expected.json: %d steps, init %q", len(back.Steps), back.Config.Init)
	}
	for _, s := range back.Steps {
		sum := 0.0
		for _, l := range gatys.DefaultStyleLayers {
			sum += s.StyleByLayer[l] / float64(len(gatys.DefaultStyleLayers))
		}
		if !(s.Total > 0) || math.Abs(sum-s.Style) > 1e-5*math.Abs(s.Style) {
			t.Errorf("step %d: total %v, style %v vs mean of layers %v", s.Step, s.Total, s.Style, sum)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "inputs.safetensors"))
	if err != nil || st.Size() < 3*4*3*MinSize*MinSize {
		t.Errorf("inputs.safetensors: %v, %v", st, err)
	}
}
