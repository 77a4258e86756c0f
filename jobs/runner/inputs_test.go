package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/train"
	"github.com/stylelab/stylelab/jobs/spec"
	"github.com/stylelab/stylelab/tracker"
)

// A recorded run stores its content and style images as artifacts inputs/content.jpg and inputs/style-0.jpg
// (the bytes the spec hashed, one blob per hash across runs); once the original files are gone, a rerun
// takes them from the store, says so, and is identical.
func TestInputsStoredAndRerunFromStore(t *testing.T) {
	if testing.Short() {
		t.Skip("optimisation runs: skipped with -short")
	}
	dir := t.TempDir()
	st := openStore(t)
	sp := tinySpec(t, dir)
	out, err := Run(sp, Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	arts, err := st.Artifacts(out.RunID)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]tracker.Artifact{}
	for _, a := range arts {
		byName[a.Name] = a
	}
	for name, in := range map[string]spec.Input{"inputs/content.jpg": sp.Inputs.Content, "inputs/style-0.jpg": sp.Inputs.Styles[0]} {
		a, ok := byName[name]
		if !ok {
			t.Fatalf("artifact %s not stored (artifacts %v)", name, arts)
		}
		disk, _ := os.ReadFile(in.Path)
		if a.SHA256 != in.SHA256 || a.MediaType != "image/jpeg" || a.Size != int64(len(disk)) {
			t.Errorf("%s: sha %.12s (spec %.12s), %s, %d bytes (file %d)", name, a.SHA256, in.SHA256, a.MediaType, a.Size, len(disk))
		}
	}
	// A second run of the same images shares the blobs.
	out2, err := Run(tinySpec(t, t.TempDir()), Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	arts2, _ := st.Artifacts(out2.RunID)
	for _, a := range arts2 {
		if strings.HasPrefix(a.Name, InputPrefix) {
			p1, _ := st.ArtifactPath(byName[a.Name].SHA256)
			p2, _ := st.ArtifactPath(a.SHA256)
			if p1 != p2 {
				t.Errorf("%s stored twice: %s and %s", a.Name, p1, p2)
			}
		}
	}

	// The originals are gone: the rerun uses the stored copies, says so, and matches bit for bit.
	os.Remove(sp.Inputs.Content.Path)
	os.Remove(sp.Inputs.Styles[0].Path)
	var warned []string
	v, err := Rerun(st, out.RunID, RerunOptions{Options: Options{Warn: func(s string) { warned = append(warned, s) }}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Verdict != Identical {
		t.Fatalf("rerun from stored inputs: %s", v.Summary())
	}
	if len(warned) != 2 || !strings.Contains(warned[0], "content.jpg is missing: using the copy stored with run") || len(v.Warnings) < 2 {
		t.Errorf("warnings %q, verdict warnings %q: want one sentence per restored input", warned, v.Warnings)
	}
}

// An input over MaxStoredInput is not copied: the run's inputs.skipped tag names it and its size.
func TestHugeInputNotStored(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t)
	big := filepath.Join(dir, "huge.png")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("\x89PNG\r\n\x1a\n"))
	if err := f.Truncate(MaxStoredInput + 1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	small := filepath.Join(dir, "style.png")
	os.WriteFile(small, []byte("\x89PNG\r\n\x1a\nsmall"), 0o644)
	sp := &spec.Spec{Inputs: spec.Inputs{Content: spec.Input{Path: big}, Styles: []spec.Input{{Path: small}}}}
	run, err := st.StartRun("t", "huge", tracker.WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	if err := recordInputs(run, sp, false); err != nil {
		t.Fatal(err)
	}
	var e error
	run.End(&e)
	info, _ := st.GetRun(run.ID())
	if tag := info.Tags[InputsSkippedTag]; !strings.Contains(tag, "content.png ("+big+": 64 MiB > 64 MiB)") {
		t.Errorf("inputs.skipped = %q", tag)
	}
	arts, _ := st.Artifacts(run.ID())
	if len(arts) != 1 || arts[0].Name != "inputs/style-0.png" || arts[0].MediaType != "image/png" {
		t.Errorf("artifacts %+v: want only inputs/style-0.png", arts)
	}
}

// --store-inputs: a training run's content folder is copied into the store, and a rerun where the folder is
// gone trains on the stored photos (same hashes, same key) and says so; without the option only the manifest is
// kept, and the rerun reports the missing folder.
func TestStoredContentFolderRerun(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a tiny network: skipped with -short")
	}
	dir := t.TempDir()
	st := openStore(t)
	sp := tinyTrainSpec(t, dir, train.KindCIN)
	out, err := Run(sp, Options{Store: st, StoreInputs: true})
	if err != nil {
		t.Fatal(err)
	}
	arts, _ := st.Artifacts(out.RunID)
	var stored []string
	for _, a := range arts {
		if strings.HasPrefix(a.Name, InputPrefix+contentDirRole) {
			stored = append(stored, a.Name)
		}
	}
	if strings.Join(stored, ",") != "inputs/content_dir/astronaut.jpg,inputs/content_dir/chelsea.jpg" &&
		strings.Join(stored, ",") != "inputs/content_dir/chelsea.jpg,inputs/content_dir/astronaut.jpg" {
		t.Fatalf("stored folder artifacts %v", stored)
	}
	plain, err := Run(tinyTrainSpec(t, t.TempDir(), train.KindCIN), Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "content")); err != nil {
		t.Fatal(err)
	}
	var warned []string
	v, err := Rerun(st, out.RunID, RerunOptions{Options: Options{Warn: func(w string) { warned = append(warned, w) }}})
	if err != nil {
		t.Fatal(err)
	}
	if v.Verdict != Identical || len(warned) == 0 || !strings.Contains(strings.Join(warned, "\n"), "using the 2 photos stored with run") {
		t.Errorf("rerun from the stored folder: %s, warnings %q", v.Verdict, warned)
	}
	if _, err := os.Stat(filepath.Join(dir, "content")); err == nil {
		t.Error("the rerun recreated the original folder")
	}
	// The other run stored no photos: with its folder gone, the rerun cannot train and says what is missing.
	pr, _ := LoadSpec(st, plain.RunID)
	os.RemoveAll(pr.Inputs.ContentDir.Path)
	if _, err := Rerun(st, plain.RunID, RerunOptions{}); err == nil {
		t.Error("rerun of a run without stored photos succeeded with its folder gone")
	}
}
