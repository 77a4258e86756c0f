package dashboard

import (
	"html"
	"math"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/tracker/format"
)

// TestPagesUseTheOneFormatter: the run page and the runs table show metric values exactly as package format
// (and so the CLI and the notebooks) writes them: ±Inf as "Infinity"/"-Infinity", 4 significant digits.
// The dashboard used to write "+Inf" with 6 digits while the CLI wrote "Infinity" with 4.
func TestPagesUseTheOneFormatter(t *testing.T) {
	vals := map[string]float64{"inf": math.Inf(1), "neg": math.Inf(-1), "tiny": 1e-12, "big": 1.23456789e12, "third": 1.0 / 3}
	metrics := map[string]func(int) float64{}
	for k, v := range vals {
		metrics[k] = func(int) float64 { return v }
	}
	path, ids := fillStore(t, []testRun{{name: "fmt", steps: 1, metrics: metrics}})
	_, srv := openServer(t, path, Options{})
	for _, page := range []string{"/runs/" + ids[0], "/"} {
		resp, body := get(t, srv, page)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", page, resp.StatusCode)
		}
		body = html.UnescapeString(body)
		for k, v := range vals {
			if want := format.Value(v); !strings.Contains(body, want) {
				t.Errorf("%s: metric %s shown without %q", page, k, want)
			}
		}
		for _, old := range []string{"+Inf", "1.23457e+12"} { // (chart data hold exact values: 0.3333333333333333)
			if strings.Contains(body, old) {
				t.Errorf("%s shows %q, a spelling of the old dashboard formatter", page, old)
			}
		}
	}
	for _, v := range []float64{math.NaN(), math.Inf(1), 1e-12, 1e12} {
		if fmtValue(v) != format.Value(v) {
			t.Errorf("fmtValue(%v) = %q, format.Value %q", v, fmtValue(v), format.Value(v))
		}
	}
}
