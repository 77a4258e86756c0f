package dashboard

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stylelab/stylelab/tracker"
)

// testRun describes a run to record in a test store.
type testRun struct {
	name   string
	params map[string]string
	tags   map[string]string
	steps  int
	// value of metric key at step i; NaN and Inf allowed.
	metrics map[string]func(i int) float64
	images  map[string]color.RGBA // PNG artifacts: name → fill colour
	files   map[string][]byte     // other artifacts (media type from the name)
	fail    bool
}

// tinyPNG is a 24×16 PNG filled with c.
func tinyPNG(t testing.TB, c color.RGBA) []byte {
	t.Helper()
	im := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for i := 0; i < len(im.Pix); i += 4 {
		im.Pix[i], im.Pix[i+1], im.Pix[i+2], im.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var b bytes.Buffer
	if err := png.Encode(&b, im); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fillStore records the runs through the tracker's write API in a new database under a temporary folder
// and returns its path and the run ids, in order.
func fillStore(t testing.TB, runs []testRun) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "runs", "stylelab.db")
	st, err := tracker.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []string
	for _, tr := range runs {
		r, err := st.StartRun("dash", tr.name, tracker.WithoutProvenance())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
		if len(tr.params) > 0 {
			if err := r.LogParams(tr.params); err != nil {
				t.Fatal(err)
			}
		}
		for k, v := range tr.tags {
			if err := r.SetTag(k, v); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < tr.steps; i++ {
			for k, f := range tr.metrics {
				if err := r.LogMetric(k, int64(i), f(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for name, c := range tr.images {
			if _, err := r.LogArtifact(name, "image/png", tinyPNG(t, c)); err != nil {
				t.Fatal(err)
			}
		}
		for name, data := range tr.files {
			if _, err := r.LogArtifact(name, "", data); err != nil {
				t.Fatal(err)
			}
		}
		var runErr error
		if tr.fail {
			runErr = errFailed
		}
		if err := r.End(&runErr); err != nil && !tr.fail {
			t.Fatal(err)
		}
	}
	return path, ids
}

type failure string

func (f failure) Error() string { return string(f) }

const errFailed = failure("diverged: loss is NaN")

// openServer opens the database read-only, as `stylelab serve` does, and serves the dashboard.
func openServer(t testing.TB, path string, o Options) (*tracker.Store, *httptest.Server) {
	t.Helper()
	st, err := tracker.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(st, o))
	t.Cleanup(func() { srv.Close(); st.Close() })
	return st, srv
}

func decay(scale float64) func(int) float64 {
	return func(i int) float64 { return scale / (1 + float64(i)) }
}

// nanFrom is decay(scale) with NaN from step from on (a diverged run).
func nanFrom(scale float64, from int) func(int) float64 {
	return func(i int) float64 {
		if i >= from {
			return math.NaN()
		}
		return scale / (1 + float64(i))
	}
}

// threeRuns is the standard fixture: three runs differing in lr (and one in loss), the third diverging.
func threeRuns() []testRun {
	red, green, blue := color.RGBA{220, 30, 30, 255}, color.RGBA{30, 200, 30, 255}, color.RGBA{30, 30, 220, 255}
	common := func(lr, loss string) map[string]string {
		return map[string]string{"lr": lr, "loss": loss, "steps": "40", "size": "64"}
	}
	return []testRun{
		{name: "gram-lr1", params: common("1", "gram"), tags: map[string]string{"note": "baseline", "provenance.git.commit": "abc123"},
			steps: 40, metrics: map[string]func(int) float64{"total": decay(1e4), "style": decay(5e3)},
			images: map[string]color.RGBA{"output.png": red}, files: map[string][]byte{"config.json": []byte(`{"lr":1}`)}},
		{name: "gram-lr2", params: common("2", "gram"),
			steps: 40, metrics: map[string]func(int) float64{"total": decay(2e4), "style": decay(4e3)},
			images: map[string]color.RGBA{"output.png": green}},
		{name: "mmd-lr2", params: common("2", "mmd-poly"),
			steps: 40, metrics: map[string]func(int) float64{"total": nanFrom(3e4, 30), "content": decay(10)},
			images: map[string]color.RGBA{"output.png": blue}, fail: true},
	}
}

func get(t testing.TB, srv *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp, b.String()
}
