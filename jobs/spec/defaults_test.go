package spec

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/gatys"
)

// resolvedOptimise parses a spec, resolves it and returns its optimise block as generic JSON.
func resolvedOptimise(t *testing.T, doc string) map[string]any {
	t.Helper()
	s, err := Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := s.Resolve(); err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	var m struct {
		Optimise map[string]any `json:"optimise"`
	}
	if err := json.Unmarshal(s.JSON(), &m); err != nil {
		t.Fatal(err)
	}
	return m.Optimise
}

const partialHead = `{"version": 1, "kind": "optimise", "inputs": {"content": {"path": "c.png"}, "styles": [{"path": "s.png"}]}, `

// A spec whose optimise block names only a few fields gets every other field's documented default
// (gatys.DefaultConfig), not Go's zero value: content weight 1, TV weight 0.05, the loss's style weight.
func TestPartialSpecGetsDefaults(t *testing.T) {
	d := gatys.DefaultConfig()
	got := resolvedOptimise(t, partialHead+`"optimise": {"size": 64, "steps": 7, "loss": "meanvar"}}`)
	want := map[string]any{
		"size": 64.0, "steps": 7.0, "loss": "meanvar",
		"content_weight": 1.0, "tv_weight": 0.05, "style_weight": gatys.DefaultStyleWeight("meanvar"),
		"optimizer": d.Optimizer, "learning_rate": 0.01, "init": d.Init, "pool": string(d.Pool),
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("optimise.%s = %v, want %v (the documented default)", k, got[k], v)
		}
	}
	lo, _ := got["loss_options"].(map[string]any)
	if lo == nil || lo["gauss_samples"] != 1024.0 || lo["gauss_exact_max"] != 1048576.0 || lo["poly_degree"] != 2.0 {
		t.Errorf("loss_options = %v, want the defaults under snake_case names", got["loss_options"])
	}
	// A partial loss_options block keeps the other options' defaults.
	got = resolvedOptimise(t, partialHead+`"optimise": {"loss": "mmd-poly", "loss_options": {"poly_c": 1}}}`)
	lo, _ = got["loss_options"].(map[string]any)
	if lo == nil || lo["poly_c"] != 1.0 || lo["poly_degree"] != 2.0 || lo["gauss_samples"] != 1024.0 {
		t.Errorf("loss_options = %v, want poly_c 1 and the other defaults", got["loss_options"])
	}
}

// Weight 0 is 0: it is not replaced by a default.
func TestZeroWeightsAreKept(t *testing.T) {
	got := resolvedOptimise(t, partialHead+`"optimise": {"style_weight": 0, "tv_weight": 0}}`)
	if got["style_weight"] != 0.0 || got["tv_weight"] != 0.0 || got["content_weight"] != 1.0 {
		t.Fatalf("weights %v %v %v, want style 0, TV 0, content 1", got["style_weight"], got["tv_weight"], got["content_weight"])
	}
}

// Unknown or misspelt fields are errors at every level, as docs/spec.md promises.
func TestUnknownFieldsAreErrors(t *testing.T) {
	for _, c := range []struct{ doc, field string }{
		{partialHead + `"optimise": {"styel_weight": 3}}`, "styel_weight"},
		{partialHead + `"optimise": {"loss_options": {"gauss_sample": 3}}}`, "gauss_sample"},
		{partialHead + `"optimise": {}, "extra": 1}`, "extra"},
	} {
		_, err := Parse(strings.NewReader(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("Parse(%s) = %v, want an error naming %q", c.doc, err, c.field)
		}
	}
}

// The key of an L-BFGS run does not depend on the learning rate L-BFGS never uses (nor an Adam run's on the
// L-BFGS history); it does depend on what the optimiser uses.
func TestKeyIgnoresUnusedOptimiserParameters(t *testing.T) {
	key := func(opt string, lr float64, hist int) string {
		cfg := gatys.DefaultConfig()
		cfg.Optimizer, cfg.LearningRate, cfg.LBFGSHistory = opt, lr, hist
		s := NewOptimise("e", "n", "c.png", []string{"s.png"}, cfg)
		if err := s.Resolve(); err != nil {
			t.Fatal(err)
		}
		return s.Key()
	}
	if key("lbfgs", 0.01, 10) != key("lbfgs", 0.5, 10) {
		t.Error("the key of an L-BFGS run changes with the learning rate")
	}
	if key("adam", 0.01, 10) != key("adam", 0.01, 3) {
		t.Error("the key of an Adam run changes with the L-BFGS history")
	}
	if key("lbfgs", 0.01, 10) == key("lbfgs", 0.01, 3) || key("adam", 0.01, 10) == key("adam", 0.02, 10) {
		t.Error("the key ignores a parameter the optimiser uses")
	}
}

// Specs recorded before loss options were snake_case (version 1, "GaussExactMax", …) are read with their values.
func TestVersion1SpecWithOldLossOptionNamesIsRead(t *testing.T) {
	old := `{"version": 1, "kind": "optimise", "inputs": {"content": {"path": "c.png"}, "styles": [{"path": "s.png"}]},
	"optimise": {"size": 32, "steps": 2, "optimizer": "adam", "learning_rate": 0.01, "lbfgs_history": 10, "loss": "mmd-poly",
	"loss_options": {"PolyDegree": 3, "PolyC": 0.5, "GaussSamples": 64, "GaussExactMax": 100, "Seed": 5},
	"content_weight": 1, "style_weight": 5, "tv_weight": 0.05}}`
	s, err := Parse(strings.NewReader(old))
	if err != nil {
		t.Fatal(err)
	}
	o := s.Optimise.LossOptions
	if o.PolyDegree != 3 || o.PolyC != 0.5 || o.GaussSamples != 64 || o.GaussExactMax != 100 || o.Seed != 5 {
		t.Fatalf("loss options %+v, want the recorded values", o)
	}
	if s.Version != Version {
		t.Fatalf("version %d after upgrade, want %d", s.Version, Version)
	}
	// The old names are not accepted in a current spec: a current file is strict.
	cur := strings.Replace(old, `"version": 1`, fmt.Sprintf(`"version": %d`, Version), 1)
	if _, err := Parse(strings.NewReader(cur)); err == nil || !strings.Contains(err.Error(), "PolyDegree") {
		t.Fatalf("a version %d spec with old names: %v, want an unknown-field error", Version, err)
	}
}

// A resolved spec read back has the same key (parsing decodes over the defaults, which bring back the parameter
// the optimiser does not use; the key ignores it).
func TestParsedSpecKeepsItsKey(t *testing.T) {
	for _, opt := range gatys.Optimizers {
		cfg := gatys.DefaultConfig()
		cfg.Optimizer = opt
		s := NewOptimise("e", "n", "c.png", []string{"s.png"}, cfg)
		if err := s.Resolve(); err != nil {
			t.Fatal(err)
		}
		back, err := Parse(strings.NewReader(string(s.JSON())))
		if err != nil {
			t.Fatal(err)
		}
		if back.Key() != s.Key() {
			t.Fatalf("%s: key %s after Parse, %s before", opt, back.Key(), s.Key())
		}
	}
}
