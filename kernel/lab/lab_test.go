package lab

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/gatys"
	"github.com/stylelab/stylelab/kernel/nbui"
	"github.com/stylelab/stylelab/kernel/setup"
	"github.com/stylelab/stylelab/tracker"
)

func TestRootAndDB(t *testing.T) {
	root, err := setup.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STYLELAB_ROOT", "")
	t.Setenv("GONB_DIR", filepath.Join(root, "notebooks"))
	t.Setenv("STYLELAB_DB", "")
	if r, err := Root(); err != nil || r != root {
		t.Errorf("Root from GONB_DIR = %q, %v; want %q", r, err, root)
	}
	if p, _ := DBPath(); p != filepath.Join(root, "runs", "stylelab.db") {
		t.Errorf("DBPath = %q", p)
	}
	t.Setenv("STYLELAB_DB", "/tmp/x.db")
	if p, _ := DBPath(); p != "/tmp/x.db" {
		t.Errorf("DBPath with STYLELAB_DB = %q", p)
	}
}

// TestStyliseRecordsAndReuses runs a 2-step 24 px optimisation into a temporary store, then asks for it again.
func TestStyliseRecordsAndReuses(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: runs a (tiny) optimisation")
	}
	root, _ := setup.FindRoot(".")
	t.Setenv("STYLELAB_ROOT", root)
	t.Setenv("STYLELAB_VGG_WEIGHTS", "")
	var out bytes.Buffer
	old := nbui.Out
	nbui.Out = &out
	defer func() { nbui.Out = old }()
	st, err := tracker.Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := gatys.DefaultConfig()
	cfg.Size, cfg.Steps = 24, 2
	spec := Spec{Experiment: "lab-test", Name: "gram", Content: "images/content/chelsea.jpg",
		Styles: []string{"images/style/vangogh_starry_night.jpg"}, Config: cfg}
	r1, err := Stylise(st, spec)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Status != "FINISHED" || r1.Params["size"] != "24" || r1.Params["loss"] != "gram" || r1.Tags[KeyTag] == "" {
		t.Fatalf("run: %+v", r1)
	}
	if v, ok := r1.Latest["style_rel"]; !ok || !(v > 0) {
		t.Errorf("style_rel latest = %v %v", v, ok)
	}
	if h, err := st.History(r1.ID, "total"); err != nil || len(h) != 3 {
		t.Errorf("total history: %d points (%v), want steps 0,1,2", len(h), err)
	}
	im, err := Output(st, r1.ID)
	if err != nil || max(im.W, im.H) != 24 {
		t.Fatalf("output: %v %v", im, err)
	}
	if !strings.Contains(out.String(), "done") {
		t.Errorf("no final progress line in:\n%s", out.String())
	}

	r2, err := Stylise(st, spec)
	if err != nil || r2.ID != r1.ID {
		t.Fatalf("same spec gave run %v (%v), want the recorded %s", r2, err, r1.ID)
	}
	spec.Config.Steps = 1
	r3, err := Stylise(st, spec)
	if err != nil || r3.ID == r1.ID {
		t.Fatalf("changed steps reused run %s (%v)", r3.ID, err)
	}
	got, err := Latest(st, "lab-test", "params.steps = '2'", []string{"gram"})
	if err != nil || len(got) != 1 || got[0].ID != r1.ID {
		t.Errorf("Latest = %v, %v", got, err)
	}
	if _, err := Latest(st, "lab-test", "", []string{"meanvar"}); err == nil || !strings.Contains(err.Error(), "run the cell") {
		t.Errorf("Latest of a missing run: %v", err)
	}
	out.Reset()
	t.Setenv("STYLELAB_DASHBOARD_URL", "http://127.0.0.1:1") // nothing listens there
	Dashboard(st, []tracker.RunInfo{*r1, *r3})
	if s := out.String(); !strings.Contains(s, "stylelab serve --db "+st.Path()) || !strings.Contains(s, "/compare?ids="+r1.ID+"%2C"+r3.ID) {
		t.Errorf("dashboard text:\n%s", s)
	}
}
