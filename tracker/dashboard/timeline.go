package dashboard

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"sort"
	"strconv"
	"strings"

	"github.com/stylelab/stylelab/tracker"
)

// The training timeline of a run page: a step slider over the run's sample grids (samples/step-N.png, as
// the train kind logs them every K steps) with the style loss of each style at that step, and play/pause
// (static/timeline.js).

//go:embed static/timeline.js
var timelineJS []byte

// SamplePrefix starts the names of a training run's sample grids: samples/step-000050.png.
const SamplePrefix = "samples/step-"

// timelineFrame is one sample grid and the losses at its step.
type timelineFrame struct {
	Step   int64             `json:"step"`
	Src    string            `json:"src"`
	Name   string            `json:"name"`
	Losses map[string]string `json:"losses"` // per-style loss (style/<name>, or style for one style) at the step, formatted
}

type timelineView struct {
	Frames   int
	Sentence string      // shown instead of the slider: a training run without samples
	JSON     template.JS // {"keys": [...], "frames": [...]}
}

// sampleStep reads N from samples/step-N.png (ok false for other names).
func sampleStep(name string) (int64, bool) {
	if !strings.HasPrefix(name, SamplePrefix) {
		return 0, false
	}
	rest := strings.TrimPrefix(name, SamplePrefix)
	dot := strings.LastIndexByte(rest, '.')
	if dot <= 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(rest[:dot], 10, 64)
	return n, err == nil && n >= 0
}

// buildTimeline makes the timeline of a run from its image artifacts and metric keys: nil for a run that
// is neither a training run nor has samples; a sentence for a training run without samples. The loss shown
// at a frame's step is the value logged at the last step ≤ it (keys style/<name>, else style).
func buildTimeline(st Store, ri *tracker.RunInfo, arts []tracker.Artifact, keys []string) (*timelineView, error) {
	var frames []timelineFrame
	for _, a := range arts {
		if n, ok := sampleStep(a.Name); ok && isImage(a.MediaType) {
			frames = append(frames, timelineFrame{Step: n, Src: "/artifacts/" + a.SHA256, Name: a.Name})
		}
	}
	if len(frames) == 0 {
		if ri.Params["kind"] == "train" {
			return &timelineView{Sentence: "This training run logged no sample grids (" + SamplePrefix + "N.png), so there is no timeline to step through; sample grids are logged every train.sample_every steps."}, nil
		}
		return nil, nil
	}
	sort.Slice(frames, func(i, j int) bool { return frames[i].Step < frames[j].Step })
	var lossKeys []string
	for _, k := range keys {
		if strings.HasPrefix(k, "style/") && ri.Params["kind"] == "train" {
			lossKeys = append(lossKeys, k)
		}
	}
	if len(lossKeys) == 0 {
		for _, k := range keys {
			if k == "style" {
				lossKeys = []string{"style"}
			}
		}
	}
	for _, k := range lossKeys {
		pts, err := st.History(ri.ID, k)
		if err != nil {
			return nil, fmt.Errorf("reading metric %q of run %s: %w", k, ri.ID, err)
		}
		j := 0
		for i := range frames {
			for j < len(pts) && pts[j].Step <= frames[i].Step {
				j++
			}
			if j > 0 {
				if frames[i].Losses == nil {
					frames[i].Losses = map[string]string{}
				}
				frames[i].Losses[k] = fmtValue(pts[j-1].Value)
			}
		}
	}
	b, err := json.Marshal(struct {
		Keys   []string        `json:"keys"`
		Frames []timelineFrame `json:"frames"`
	}{lossKeys, frames})
	if err != nil {
		return nil, fmt.Errorf("encoding the timeline of run %s: %w", ri.ID, err)
	}
	return &timelineView{Frames: len(frames), JSON: template.JS(b)}, nil
}
