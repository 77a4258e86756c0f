package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/provenance"
)

// TestProvenanceDeviceIsDoctors: a recorded run's provenance device is exactly the device `stylelab doctor`
// reports on this machine, for the backend chosen by default and for the pure-Go one (which says so).
func TestProvenanceDeviceIsDoctors(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: end-to-end optimisation")
	}
	for _, c := range []struct {
		name string
		env  []string
	}{{"default", nil}, {"go", []string{"GOMLX_BACKEND=go"}}} {
		t.Run(c.name, func(t *testing.T) {
			r := runStylelab(t, c.env, "doctor", "--json")
			if r.code != 0 {
				t.Fatalf("doctor: exit %d: %s", r.code, r.stderr)
			}
			var d doctorReport
			if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
				t.Fatal(err)
			}
			switch d.Backend.Name {
			case "cpu":
				if d.Backend.Matmul == nil || !strings.Contains(d.Device, "matmul "+d.Backend.Matmul.String()) {
					t.Errorf("doctor's device %q does not name the matmul engine %+v", d.Device, d.Backend.Matmul)
				}
			case "go":
				if !strings.Contains(d.Device, "pure Go") {
					t.Errorf("pure-Go backend, but doctor's device %q does not say so", d.Device)
				}
			}
			if c.name == "go" && d.Backend.Name != "go" {
				t.Fatalf("GOMLX_BACKEND=go chose %q", d.Backend.Name)
			}
			// The text report prints the same line.
			if txt := runStylelab(t, c.env, "doctor"); !strings.Contains(txt.stdout, "device:      "+d.Device+"\n") {
				t.Errorf("doctor's text lacks the device line %q:\n%s", d.Device, txt.stdout)
			}

			r = runStylelab(t, c.env, "run", "--content", testContent, "--style", testStyle, "--size", "32", "--steps", "1",
				"--out", t.TempDir()+"/out.png", "--json")
			if r.code != 0 {
				t.Fatalf("run: exit %d: %s", r.code, r.stderr)
			}
			var o struct {
				RunID string `json:"run_id"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &o); err != nil || o.RunID == "" {
				t.Fatalf("run --json gave no run_id (%v):\n%s", err, r.stdout)
			}
			s, err := tracker.OpenReadOnly(os.Getenv("STYLELAB_DB"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			info, err := s.GetRun(o.RunID)
			if err != nil {
				t.Fatal(err)
			}
			if got := info.Tags[provenance.Prefix+"device"]; got != d.Device {
				t.Errorf("run %s provenance device %q, doctor reports %q", o.RunID, got, d.Device)
			}
			if got, want := info.Tags[provenance.Prefix+"backend"], d.Backend.Name+" ("+d.Backend.Config+")"; got != want {
				t.Errorf("run %s provenance backend %q, doctor reports %q", o.RunID, got, want)
			}
		})
	}
}
