package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/gatys"
)

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseRoundTripAndRefusals(t *testing.T) {
	s := NewOptimise("exp", "n", "c.png", []string{"s.png"}, gatys.DefaultConfig())
	s.Seed = 7
	if err := s.Resolve(); err != nil {
		t.Fatal(err)
	}
	back, err := Parse(strings.NewReader(string(s.JSON())))
	if err != nil {
		t.Fatal(err)
	}
	// Parsing decodes over the defaults (the Adam run's unused L-BFGS history comes back); resolving again gives
	// the same spec.
	if err := back.Resolve(); err != nil {
		t.Fatal(err)
	}
	if string(back.JSON()) != string(s.JSON()) {
		t.Fatalf("round trip changed the spec:\n%s\n%s", s.JSON(), back.JSON())
	}
	if back.Optimise.Seed != 7 {
		t.Fatalf("seed not carried into the optimiser config: %d", back.Optimise.Seed)
	}

	for _, c := range []struct{ in, want string }{
		{`{"version":1,"kind":"optimise","sede":3}`, `unknown field "sede"`},
		{`{"version":99,"kind":"optimise"}`, "newer than this stylelab"},
		{`{"kind":"optimise"}`, `"version" is missing`},
		{`{"version":1} {}`, "more than one JSON value"},
		{`not json`, "invalid character"},
	} {
		_, err := Parse(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%s) = %v, want an error containing %q", c.in, err, c.want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	for _, c := range []struct {
		s    Spec
		want string
	}{
		{Spec{Kind: "paint"}, `unknown kind "paint"`},
		{Spec{Kind: KindTrain}, "needs inputs.content_dir.path"},
		{Spec{Kind: KindTrain, Inputs: Inputs{ContentDir: &Folder{Path: "d"}}}, "needs inputs.styles"},
		{Spec{Kind: KindStylize, Inputs: Inputs{Content: Input{Path: "c"}}}, "needs inputs.model"},
		{Spec{Kind: KindStylize, Inputs: Inputs{Content: Input{Path: "c"}, Model: &Input{Path: "m"}}}, `needs "stylize"`},
		{Spec{Kind: KindInterpolate, Inputs: Inputs{Content: Input{Path: "c"}, Model: &Input{Path: "m"}},
			Interpolate: &InterpolateParams{Styles: []int{0, 1, 2}}}, "[a, b] or [a, b, c, d]"},
		{Spec{Kind: KindAdaIN, Inputs: Inputs{Content: Input{Path: "c"}, Model: &Input{Path: "m"}, Styles: []Input{{Path: "s"}}},
			AdaIN: &AdaINParams{StyleWeights: []float64{1, 2}}}, "2 style weights for 1 style"},
		{Spec{Kind: KindOptimise}, "inputs.content.path is empty"},
		{Spec{Kind: KindOptimise, Inputs: Inputs{Content: Input{Path: "c"}}}, "inputs.styles is empty"},
		{Spec{Kind: KindOptimise, Inputs: Inputs{Content: Input{Path: "c"}, Styles: []Input{{Path: "s"}}},
			Optimise: &gatys.Config{Loss: "nope"}}, "nope"},
	} {
		err := c.s.Resolve()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resolve(%+v) = %v, want %q", c.s, err, c.want)
		}
	}
}

func TestHashInputsDetectsChangesAndKeyFollowsContent(t *testing.T) {
	dir := t.TempDir()
	c := writeFile(t, dir, "c.png", "content bytes")
	st := writeFile(t, dir, "s.png", "style bytes")
	s := NewOptimise("e", "n", c, []string{st}, gatys.DefaultConfig())
	if err := s.Resolve(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.HashInputs(false); err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256([]byte("content bytes"))
	if s.Inputs.Content.SHA256 != hex.EncodeToString(want[:]) {
		t.Fatalf("content hash not filled: %q", s.Inputs.Content.SHA256)
	}
	key := s.Key()

	// Same bytes: no complaint, same key.
	if _, err := s.HashInputs(false); err != nil || s.Key() != key {
		t.Fatalf("re-hashing unchanged inputs: err %v, key %s vs %s", err, s.Key(), key)
	}
	// Changed style file: refused, naming it.
	writeFile(t, dir, "s.png", "other style bytes")
	_, err := s.HashInputs(false)
	var ce *ChangedInputError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "style[0] "+st) || !strings.Contains(err.Error(), "--allow-changed-inputs") {
		t.Fatalf("changed input: got %v", err)
	}
	// Allowed: a warning, the new hash recorded, a new key.
	warns, err := s.HashInputs(true)
	if err != nil || len(warns) != 1 {
		t.Fatalf("allowed change: warnings %v err %v", warns, err)
	}
	if s.Key() == key {
		t.Fatal("key did not change with the style file's content")
	}
	// Missing file: an error even when changes are allowed.
	os.Remove(c)
	if _, err := s.HashInputs(true); err == nil || !strings.Contains(err.Error(), "content "+c) {
		t.Fatalf("missing input: got %v", err)
	}
}

func TestKeyIgnoresNamesButNotParameters(t *testing.T) {
	mk := func() *Spec {
		s := NewOptimise("e", "n", "c", []string{"s"}, gatys.DefaultConfig())
		if err := s.Resolve(); err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := mk(), mk()
	b.Name, b.Experiment, b.Output, b.BaseDir, b.Backend = "other", "other", "x.png", "/elsewhere", "xla"
	if a.Key() != b.Key() {
		t.Fatal("key depends on name/experiment/output/base dir/backend")
	}
	b.Optimise.LearningRate *= 2
	if a.Key() == b.Key() {
		t.Fatal("key does not depend on the learning rate")
	}
	c := mk()
	c.Seed = 5
	if err := c.Resolve(); err != nil {
		t.Fatal(err)
	}
	if a.Key() == c.Key() {
		t.Fatal("key does not depend on the seed")
	}
}

func TestFilePathFallsBackToBaseDir(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "only-here.png", "x")
	s := &Spec{BaseDir: dir}
	if got := s.FilePath("only-here.png"); got != filepath.Join(dir, "only-here.png") {
		t.Fatalf("FilePath = %s", got)
	}
	if got := s.FilePath("/abs/p.png"); got != "/abs/p.png" {
		t.Fatalf("FilePath(abs) = %s", got)
	}
}

// A key given twice in one object is refused, named by its path, with the file's name (issue 21, item 14):
// encoding/json alone keeps the last silently. The same key in different objects is fine.
func TestDuplicateKeysRefused(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ doc, key string }{
		{`{"version": 2, "kind": "optimise", "optimise": {"steps": 100, "size": 32, "steps": 3}}`, "optimise.steps"},
		{`{"version": 2, "seed": 1, "kind": "optimise", "seed": 2}`, "seed"},
		{`{"version": 2, "kind": "optimise", "inputs": {"styles": [{"path": "a.png"}, {"path": "b.png", "path": "c.png"}]}}`, "inputs.styles.1.path"},
		{`{"version": 1, "kind": "optimise", "optimise": {"loss_options": {"eps": 1, "eps": 2}}}`, "optimise.loss_options.eps"},
	} {
		p := writeFile(t, dir, "dup.json", tc.doc)
		_, err := Load(p)
		if err == nil || !strings.Contains(err.Error(), `key "`+tc.key+`" appears twice`) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want the duplicate %q and the file named", tc.doc, err, tc.key)
		}
	}
	// Equal keys in different objects, and a document that is not JSON (the decoder's own error), are not duplicates.
	if err := CheckDuplicateKeys([]byte(`{"a": {"x": 1}, "b": {"x": 2}, "c": [{"x": 1}, {"x": 2}]}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(strings.NewReader(`{"version": 2,`)); err == nil || strings.Contains(err.Error(), "twice") {
		t.Fatalf("truncated JSON: %v", err)
	}
}
