package train

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nlpodyssey/safetensors"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/vgg"
)

const repo = "../.."

func tinyInputs(t testing.TB, styles ...string) Inputs {
	t.Helper()
	files, err := ContentFiles(filepath.Join(repo, "images/content"))
	if err != nil {
		t.Fatal(err)
	}
	in := Inputs{ContentFiles: files[:2], Weights: vgg.Random(0)}
	for _, s := range styles {
		in.Styles = append(in.Styles, StyleRef{Name: StyleName(s), Path: filepath.Join(repo, "images/style", s), SHA256: "sha-" + s})
	}
	return in
}

func tinyConfig(t testing.TB, kind, loss string) Config {
	c, err := Preset("tiny", kind)
	if err != nil {
		t.Fatal(err)
	}
	c.Loss, c.StyleWeight = loss, 0
	return c
}

var twoStyles = []string{"vangogh_starry_night.jpg", "hokusai_great_wave.jpg"}

// A tiny CIN run's loss falls under every style loss: the mean total of the last two steps is below that of
// the first two (each step's batch is random, so single steps are compared in pairs).
func TestLossFallsUnderEveryStyleLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: five training runs")
	}
	for _, loss := range []string{"gram", "mmd-poly", "mmd-linear", "mmd-gauss", "meanvar"} {
		t.Run(loss, func(t *testing.T) {
			cfg := tinyConfig(t, KindCIN, loss)
			cfg.Steps, cfg.LearningRate, cfg.SampleEvery = 8, 0.02, 0
			var totals []float64
			res, err := Run(cfg, tinyInputs(t, twoStyles...), nil, Hooks{OnStep: func(r StepReport) error {
				totals = append(totals, r.Total)
				for k, v := range r.StyleByStyle {
					if math.IsNaN(v) {
						t.Errorf("step %d: style %d has no loss (batch 2 must hold both styles)", r.Step, k)
					}
				}
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			n := len(totals)
			first, last := (totals[0]+totals[1])/2, (totals[n-2]+totals[n-1])/2
			if !(last < first) {
				t.Errorf("%s: loss did not fall: %v", loss, totals)
			}
			if res.Header.Step != cfg.Steps || res.Checkpoint == nil {
				t.Errorf("final checkpoint at step %d (want %d)", res.Header.Step, cfg.Steps)
			}
		})
	}
}

// Save → load gives bit-identical outputs: the model loaded from the final checkpoint stylises the sample
// contents exactly as the training network did in the last sample grid; re-encoding gives the same bytes.
// Resuming from a mid-run checkpoint continues the step count and the losses exactly where the uninterrupted
// run is, and ends with the same checkpoint bytes (weights and Adam state).
func TestCheckpointRoundTripAndResume(t *testing.T) {
	cfg := tinyConfig(t, KindCIN, "gram")
	cfg.Steps, cfg.CheckpointEvery, cfg.SampleEvery = 4, 2, 0
	in := tinyInputs(t, twoStyles...)
	var full []StepReport
	var mid []byte
	res, err := Run(cfg, in, nil, Hooks{
		OnStep: func(r StepReport) error { full = append(full, r); return nil },
		OnCheckpoint: func(step int, data []byte, final bool) error {
			if step == 2 {
				mid = data
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Round trip.
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, res.Checkpoint); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Header.Step != 4 || ck.Header.Architecture.Transformer.Styles != 2 || ck.Header.Styles[1].SHA256 != in.Styles[1].SHA256 {
		t.Errorf("header %+v", ck.Header)
	}
	m, err := NewModel(ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s := cfg.SampleSize
	var cs []*imageio.Image
	var mixes [][]float64
	for _, p := range in.ContentFiles {
		im, _ := imageio.Load(p, 0)
		im, _ = CenterSquare(im, s)
		for k := range 2 {
			mix, _ := OneHotMix(k, 2)
			cs, mixes = append(cs, im), append(mixes, mix)
		}
	}
	outs, err := m.Stylize(cs, mixes)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		r, c := 1+i/2, 1+i%2 // grid: header row, content column
		x0, y0 := 2+c*(s+2), 2+r*(s+2)
		for y := range s {
			row := res.Samples.Pix[((y0+y)*res.Samples.W+x0)*3 : ((y0+y)*res.Samples.W+x0+s)*3]
			if !slicesEqualBits(row, o.Pix[y*s*3:(y+1)*s*3]) {
				t.Fatalf("image %d row %d: the loaded model's output differs from the trained network's", i, y)
			}
		}
	}
	// Resume from step 2.
	ck2, err := DecodeCheckpoint("mid", mid)
	if err != nil {
		t.Fatal(err)
	}
	var resumed []StepReport
	res2, err := Run(cfg, in, ck2, Hooks{OnStep: func(r StepReport) error { resumed = append(resumed, r); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if len(resumed) != 2 || resumed[0].Step != 3 {
		t.Fatalf("resumed steps %v, want 3 and 4", resumed)
	}
	for i, r := range resumed {
		f := full[2+i]
		if math.Float64bits(r.Total) != math.Float64bits(f.Total) || math.Float64bits(r.Style) != math.Float64bits(f.Style) {
			t.Errorf("step %d: resumed loss %.9g/%.9g, uninterrupted %.9g/%.9g", r.Step, r.Total, r.Style, f.Total, f.Style)
		}
	}
	if !bytes.Equal(res2.Checkpoint, res.Checkpoint) {
		t.Error("the resumed run's final checkpoint differs from the uninterrupted run's")
	}
	// Stop after step 2 (as on a signal): Run returns Stop's error, and the one checkpoint it hands over, as
	// final, is bit-equal to the uninterrupted run's step-2 checkpoint, which resumed above to the same end.
	errStop := errors.New("stop")
	var got []int
	var stopped []byte
	res3, err := Run(cfg, in, nil, Hooks{
		Stop: func(step int) error {
			if step == 2 {
				return errStop
			}
			return nil
		},
		OnCheckpoint: func(step int, data []byte, final bool) error {
			got = append(got, step)
			if !final {
				t.Errorf("checkpoint at step %d not final", step)
			}
			stopped = data
			return nil
		},
	})
	if !errors.Is(err, errStop) || res3 == nil || res3.Last.Step != 2 {
		t.Fatalf("stopped run: %v, %+v", err, res3)
	}
	if len(got) != 1 || got[0] != 2 || !bytes.Equal(stopped, mid) || !bytes.Equal(res3.Checkpoint, mid) {
		t.Errorf("stopped run's checkpoints at steps %v; bit-equal to the step-2 checkpoint: %v", got, bytes.Equal(stopped, mid))
	}
	// Resume with another architecture is refused.
	other := cfg
	other.Width = 0.25
	if _, err := Run(other, in, ck2, Hooks{}); err == nil || !strings.Contains(err.Error(), "architecture") {
		t.Errorf("resume with another width: %v", err)
	}
}

func slicesEqualBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	if _, err := ContentFiles(dir); err == nil || !strings.Contains(err.Error(), "has no images") {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := LoadCheckpoint(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("missing checkpoint accepted")
	}
	corrupt := filepath.Join(dir, "corrupt.safetensors")
	os.WriteFile(corrupt, []byte("not a checkpoint at all"), 0o644)
	if _, err := LoadCheckpoint(corrupt); !errors.Is(err, ErrNotCheckpoint) {
		t.Errorf("corrupt checkpoint: %v", err)
	}
	tv, _ := safetensors.NewTensorView(safetensors.F32, []uint64{1}, []byte{0, 0, 0, 0})
	other, _ := safetensors.Serialize(map[string]safetensors.TensorView{"features.0.weight": tv}, nil)
	if _, err := DecodeCheckpoint("vgg.safetensors", other); !errors.Is(err, ErrNotCheckpoint) || !strings.Contains(err.Error(), "without a stylelab header") {
		t.Errorf("other kind of safetensors: %v", err)
	}
	if _, err := OneHotMix(2, 2); err == nil {
		t.Error("style index 2 of 2 accepted")
	}
	for _, mix := range [][]float64{{1}, {1, -1}, {math.NaN(), 1}, {0, 0}} {
		if err := CheckMix(mix, 2); err == nil {
			t.Errorf("mix %v accepted", mix)
		}
	}
	if _, err := tinyConfig(t, KindSingle, "gram").Resolve(2); err == nil {
		t.Error("single kind with two styles accepted")
	}
}

// Model.AdaIN keeps its compiled graph: a second call with the same sizes, weights and alpha builds nothing new
// and returns the same bytes as a fresh Model (whose first call compiles); a new alpha builds a new graph, whose
// output is that of a fresh Model too (so a cached graph never answers for other constants).
func TestAdaINModelReusesItsGraph(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: trains an AdaIN decoder")
	}
	cfg := tinyConfig(t, KindAdaIN, "gram")
	cfg.Steps, cfg.CheckpointEvery, cfg.SampleEvery = 1, 0, 0
	in := tinyInputs(t, twoStyles...)
	res, err := Run(cfg, in, nil, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a.safetensors")
	if err := WriteFile(path, res.Checkpoint); err != nil {
		t.Fatal(err)
	}
	ck, err := LoadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	load := func(p string) *imageio.Image {
		im, err := imageio.Load(p, 0)
		if err != nil {
			t.Fatal(err)
		}
		if im, err = CenterSquare(im, 32); err != nil {
			t.Fatal(err)
		}
		return im
	}
	content := load(in.ContentFiles[0])
	styles := []*imageio.Image{load(in.Styles[0].Path), load(in.Styles[1].Path)}
	weights := []float64{0.7, 0.3}
	fresh := func(alpha float64) []float32 {
		m, err := NewModel(ck, in.Weights)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		out, err := m.AdaIN(content, styles, weights, alpha)
		if err != nil {
			t.Fatal(err)
		}
		return out.Pix
	}
	m, err := NewModel(ck, in.Weights)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	same := func(a, b []float32) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				return false
			}
		}
		return true
	}
	var first []float32
	var took [3]time.Duration
	for call := range 3 {
		t0 := time.Now()
		out, err := m.AdaIN(content, styles, weights, 0.8)
		took[call] = time.Since(t0)
		if err != nil {
			t.Fatal(err)
		}
		if m.compiles != 1 {
			t.Fatalf("call %d: %d graphs built, want 1", call+1, m.compiles)
		}
		if call == 0 {
			first = out.Pix
		} else if !same(out.Pix, first) {
			t.Fatalf("call %d differs from call 1", call+1)
		}
	}
	t.Logf("AdaIN calls took %v (compiling), then %v and %v", took[0], took[1], took[2])
	if !same(first, fresh(0.8)) {
		t.Fatal("the cached graph's output differs from a fresh Model's")
	}
	out, err := m.AdaIN(content, styles, weights, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	if m.compiles != 2 {
		t.Fatalf("%d graphs built after a new alpha, want 2", m.compiles)
	}
	if same(out.Pix, first) || !same(out.Pix, fresh(0.4)) {
		t.Fatal("alpha 0.4 did not give a fresh Model's alpha-0.4 output")
	}
	// Concurrent calls on one Model (new sizes too, so graphs are built while others run) give the serial bytes.
	want := map[float64][]float32{0.8: first, 0.4: out.Pix}
	small := []*imageio.Image{styles[0], mustResize(t, styles[1], 16, 16)}
	wantSmall, err := m.AdaIN(content, small, weights, 0.8)
	if err != nil {
		t.Fatal(err)
	}
	m.Close() // concurrent calls rebuild everything
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for g := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			alpha, sty, w := 0.8, styles, want[0.8]
			switch g % 3 {
			case 1:
				alpha, w = 0.4, want[0.4]
			case 2:
				sty, w = small, wantSmall.Pix
			}
			got, err := m.AdaIN(content, sty, weights, alpha)
			if err == nil && !same(got.Pix, w) {
				err = errors.New("a concurrent call's output differs from the serial one's")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func mustResize(t *testing.T, im *imageio.Image, w, h int) *imageio.Image {
	t.Helper()
	r, err := imageio.Resize(im, w, h)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
