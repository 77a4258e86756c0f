package charts_test

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
	"github.com/stylelab/stylelab/tracker/charts/chartstest"
)

// nanCurve is a decreasing curve of n points whose steps in [from, to) are NaN and whose step inf is +Inf.
func nanCurve(n, from, to, inf int) (pts []tracker.Point, gaps int) {
	for i := 0; i < n; i++ {
		v := 100 / float64(i+1)
		if i >= from && i < to {
			v = math.NaN()
			gaps++
		}
		if i == inf {
			v = math.Inf(1)
			gaps++
		}
		pts = append(pts, tracker.Point{Step: int64(i), Value: v})
	}
	return pts, gaps
}

// In a real browser, a self-contained page (file://, no server) draws the curve with NaN/Inf as gaps.
func TestBrowserStandalonePageDrawsGaps(t *testing.T) {
	ctx := chartstest.Browser(t)
	pts, gaps := nanCurve(200, 50, 60, 120)
	c := charts.Overlay("loss", []charts.Series{{Run: "run-a", Label: "a", Points: pts}}, charts.WithID("nanchart"), charts.WithLogY(false))
	var page bytes.Buffer
	if err := charts.StandalonePage(&page, "NaN gaps", c); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "page.html")
	if err := os.WriteFile(file, page.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file)); err != nil {
		t.Fatal(err)
	}
	d, err := chartstest.Inspect(ctx, "nanchart", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("drawn: %+v", d)
	if d.Series != 1 || d.Points[0] != 200 {
		t.Fatalf("want 1 series of 200 points, got %+v", d)
	}
	if d.Gaps[0] != gaps {
		t.Errorf("browser sees %d gap points, want %d (NaN and Inf)", d.Gaps[0], gaps)
	}
	if d.Pixels < 300 {
		t.Errorf("only %d pixels of the curve colour %s were drawn: the chart is blank", d.Pixels, d.Color)
	}
}

// A notebook inserts the Snippet's HTML into a detached output node, re-creates its <script> elements (as
// JupyterLab does) and attaches it afterwards; two cells on one page load ECharts once and both draw.
func TestBrowserSnippetLikeJupyter(t *testing.T) {
	ctx := chartstest.Browser(t)
	mk := func(id string) string {
		pts, _ := nanCurve(100, 10, 20, -1)
		s, err := charts.Snippet(charts.Overlay("m", []charts.Series{{Run: id, Points: pts}}, charts.WithID(id)))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cells, _ := json.Marshal([]string{mk("cell1"), mk("cell2")})
	page := `<!DOCTYPE html><html><head><meta charset="utf-8"></head><body><div id="nb"></div><script>
var cells = ` + string(cells) + `;
window.echartsLoads = 0;
cells.forEach(function (html, i) {
  var out = document.createElement("div");
  out.innerHTML = html;                       // scripts inserted this way do not run...
  out.querySelectorAll("script").forEach(function (old) {
    var s = document.createElement("script");  // ...so re-create them, like JupyterLab's renderHTML
    for (var a of old.attributes) s.setAttribute(a.name, a.value);
    s.textContent = old.textContent;
    old.replaceWith(s);
  });
  setTimeout(function () { document.getElementById("nb").appendChild(out); }, 100 * (i + 1));
});
</script></body></html>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	}))
	defer srv.Close()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"cell1", "cell2"} {
		d, err := chartstest.Inspect(ctx, id, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if d.Series != 1 || d.Points[0] != 100 || d.Gaps[0] != 10 || d.Pixels < 200 {
			t.Errorf("%s drawn as %+v, want 1 series, 100 points, 10 gaps, a visible curve", id, d)
		}
	}
}
