package tracker

import (
	"errors"
	"path/filepath"
	"testing"
)

// Scores added to an ended run after it ran: its status and times stay, the points are searchable like any
// metric, a second annotation at a later step adds points and becomes the latest, and the keys are listed in
// TagAnnotated. A read-only store and an unknown run write nothing.
func TestAnnotateEndedRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runs.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	run, err := s.StartRun("e", "r", WithoutProvenance())
	if err != nil {
		t.Fatal(err)
	}
	run.LogMetric("loss", 0, 1)
	var none error
	run.End(&none)
	before, _ := s.GetRun(run.ID())

	if err := s.Annotate(run.ID(), 1, map[string]float64{"judge/ssim": 0.5}, map[string]string{"study.evaluation": "e1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Annotate(run.ID(), 2, map[string]float64{"judge/ssim": 0.7, "judge/content": 3}, nil); err != nil {
		t.Fatal(err)
	}
	after, _ := s.GetRun(run.ID())
	if after.Status != StatusFinished || !after.End.Equal(before.End) || after.Latest["judge/ssim"] != 0.7 || after.Latest["loss"] != 1 {
		t.Errorf("after annotating: status %s end %v (was %v), latest %v", after.Status, after.End, before.End, after.Latest)
	}
	if h, _ := s.History(run.ID(), "judge/ssim"); len(h) != 2 || h[0].Value != 0.5 || h[1].Step != 2 {
		t.Errorf("judge/ssim history %v, want 0.5 at 1 and 0.7 at 2", h)
	}
	if after.Tags[TagAnnotated] != "judge/content,judge/ssim" || after.Tags["study.evaluation"] != "e1" {
		t.Errorf("tags %v", after.Tags)
	}
	if got := AnnotatedKeys(after); len(got) != 2 || !got["judge/ssim"] || got["loss"] {
		t.Errorf("AnnotatedKeys %v", got)
	}
	if rs, err := s.Search("metrics.`judge/ssim` > 0.6", "", 0); err != nil || len(rs) != 1 {
		t.Errorf("filter on the annotation: %d runs, %v", len(rs), err)
	}
	if err := s.Annotate("00000000-0000-4000-8000-000000000000", 1, map[string]float64{"x": 1}, nil); err == nil {
		t.Error("annotating an unknown run succeeded")
	}
	s.Close()
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Annotate(run.ID(), 3, map[string]float64{"judge/ssim": 9}, nil); !errors.Is(err, ErrReadOnly) {
		t.Errorf("read-only store: %v", err)
	}
}
