package study

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stylelab/stylelab/experiments/imageio"
)

// reference is testdata/reference.json, written by testdata/reference.py from scipy, numpy and skimage.
type reference struct {
	Versions map[string]string `json:"versions"`
	Wilcoxon []struct {
		D         []float64 `json:"d"`
		Mode      string    `json:"mode"`
		Statistic float64   `json:"statistic"`
		P         float64   `json:"p"`
	} `json:"wilcoxon"`
	Rankdata []struct {
		X, Ranks []float64
	} `json:"rankdata"`
	Percentile []struct {
		X     []float64 `json:"x"`
		Q     float64   `json:"q"`
		Value float64   `json:"value"`
	} `json:"percentile"`
	SSIM []struct {
		W, H int
		Kind string
		X, Y []float64
		SSIM float64 `json:"ssim"`
	} `json:"ssim"`
	Lab struct {
		RGB []float64 `json:"rgb"`
		Lab []float64 `json:"lab"`
	} `json:"lab"`
	Wasserstein1 []struct {
		A, B []float64
		W1   float64 `json:"w1"`
	} `json:"wasserstein1"`
	Sliced []struct {
		Dim     int       `json:"dim"`
		X       []float64 `json:"x"`
		Dirs    []float64 `json:"dirs"`
		SW      float64   `json:"sw"`
		YValues []float64 `json:"y"`
	} `json:"sliced"`
}

func loadReference(t *testing.T, data []byte, what string) *reference {
	t.Helper()
	var r reference
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(r.Wilcoxon) == 0 || len(r.SSIM) == 0 || len(r.Lab.RGB) == 0 || len(r.Sliced) == 0 {
		t.Fatalf("%s lacks cases", what)
	}
	return &r
}

// references returns the committed reference values and, when Debian's python3 with scipy and skimage is
// present, freshly generated ones. STYLELAB_REQUIRE_SCIPY=1 makes a missing python3-scipy/python3-skimage a
// failure instead of a note.
func references(t *testing.T) map[string]*reference {
	t.Helper()
	committed, err := os.ReadFile(filepath.Join("testdata", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*reference{"committed testdata/reference.json": loadReference(t, committed, "testdata/reference.json")}
	python := os.Getenv("STYLELAB_PYTHON")
	if python == "" {
		python = "/usr/bin/python3"
	}
	require := os.Getenv("STYLELAB_REQUIRE_SCIPY") != ""
	if testing.Short() && !require {
		t.Log("-short: comparing with the committed reference values only")
		return out
	}
	cmd := exec.Command(python, filepath.Join("testdata", "reference.py"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	fresh, err := cmd.Output()
	if err != nil {
		msg := "scipy/skimage reference not generated at test time (" + err.Error() + ": " + lastLine(stderr.String()) +
			"): apt-get install -y python3-scipy python3-skimage, or set STYLELAB_PYTHON; comparing with the committed values only"
		if require {
			t.Fatal("STYLELAB_REQUIRE_SCIPY is set: " + msg)
		}
		t.Log(msg)
		return out
	}
	r := loadReference(t, fresh, "reference.py's output")
	out["scipy "+r.Versions["scipy"]+", skimage "+r.Versions["skimage"]+" now"] = r
	return out
}

func lastLine(s string) string {
	s = string(bytes.TrimSpace([]byte(s)))
	if i := bytes.LastIndexByte([]byte(s), '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func close(a, b, rel, abs float64) bool {
	return math.Abs(a-b) <= abs+rel*math.Max(math.Abs(a), math.Abs(b))
}

// TestAgainstScipyAndSkimage compares every statistic and measure with scipy.stats, numpy and skimage.
func TestAgainstScipyAndSkimage(t *testing.T) {
	for name, ref := range references(t) {
		t.Run(name, func(t *testing.T) {
			for i, c := range ref.Wilcoxon {
				got, err := Wilcoxon(c.D)
				if err != nil {
					t.Fatalf("wilcoxon %d: %v", i, err)
				}
				// Our choice of mode must be the one the reference was generated with (exact only without ties
				// and zeros); "auto" cases have zeros, so scipy used the approximation.
				wantExact := c.Mode == "exact"
				if got.Exact != wantExact {
					t.Errorf("wilcoxon %d (n=%d, %s): Exact = %v", i, len(c.D), c.Mode, got.Exact)
				}
				if !close(got.Statistic, c.Statistic, 1e-12, 1e-12) || !close(got.P, c.P, 1e-9, 1e-15) {
					t.Errorf("wilcoxon %d (n=%d, %s): statistic %v p %v, scipy %v p %v", i, len(c.D), c.Mode, got.Statistic, got.P, c.Statistic, c.P)
				}
			}
			for i, c := range ref.Rankdata {
				got := Ranks(c.X)
				for k := range got {
					if got[k] != c.Ranks[k] {
						t.Errorf("rankdata %d: %v, scipy %v", i, got, c.Ranks)
						break
					}
				}
			}
			for _, c := range ref.Percentile {
				if got := Percentile(c.X, c.Q); !close(got, c.Value, 1e-14, 1e-14) {
					t.Errorf("percentile q=%g: %v, numpy %v", c.Q, got, c.Value)
				}
			}
			for _, c := range ref.SSIM {
				got, err := SSIM(c.X, c.Y, c.W, c.H, 1)
				if err != nil {
					t.Fatal(err)
				}
				if !close(got, c.SSIM, 1e-10, 1e-12) {
					t.Errorf("ssim %d×%d %s: %.15g, skimage %.15g", c.W, c.H, c.Kind, got, c.SSIM)
				}
			}
			rgb := ref.Lab.RGB
			im := &imageio.Image{W: len(rgb) / 3, H: 1, Pix: make([]float32, len(rgb))}
			for i, v := range rgb {
				im.Pix[i] = float32(v)
			}
			lab := Lab(im)
			for i := range lab {
				// The image holds float32 pixels: compare at float32's input precision.
				if !close(lab[i], ref.Lab.Lab[i], 1e-5, 1e-4) {
					t.Errorf("lab value %d (pixel %d): %v, skimage %v", i, i/3, lab[i], ref.Lab.Lab[i])
				}
			}
			for _, c := range ref.Wasserstein1 {
				got, err := Wasserstein1D(c.A, c.B, 1)
				if err != nil {
					t.Fatal(err)
				}
				if !close(got, c.W1, 1e-12, 1e-14) {
					t.Errorf("W1 (%d vs %d values): %v, scipy %v", len(c.A), len(c.B), got, c.W1)
				}
			}
			for _, c := range ref.Sliced {
				got, err := SlicedWasserstein(c.X, c.YValues, c.Dim, c.Dirs)
				if err != nil {
					t.Fatal(err)
				}
				if !close(got, c.SW, 1e-12, 1e-14) {
					t.Errorf("sliced W2 dim %d: %v, numpy %v", c.Dim, got, c.SW)
				}
			}
		})
	}
}
