package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/tracker"
)

// sweepRuns is a 2 losses × 3 style weights × 2 seeds sweep tagged sweep.id=s1 (with sweep.params), a
// 2-run sweep s2 without sweep.params, and one run of another experiment outside any sweep. The final
// total is w·(1 + loss index)·(1 + seed/10), so the best (lowest) is gram, w=1, seed 0.
func sweepRuns() []testRun {
	var out []testRun
	for li, loss := range []string{"gram", "meanvar"} {
		for _, sw := range []int{1, 5, 25} {
			for seed := 0; seed < 2; seed++ {
				final := float64(sw) * float64(1+li) * (1 + float64(seed)/10)
				out = append(out, testRun{
					name:   fmt.Sprintf("%s-w%d-s%d", loss, sw, seed),
					params: map[string]string{"loss": loss, "style_weight": strconv.Itoa(sw), "seed": strconv.Itoa(seed), "size": "32"},
					tags:   map[string]string{SweepTag: "s1", SweepParamsTag: "loss, style_weight,seed"},
					steps:  5, metrics: map[string]func(int) float64{
						"total": func(i int) float64 { return final * (5 - float64(i)) },
						"style": func(i int) float64 { return final / 2 },
					},
					images: map[string]color.RGBA{"output.png": {uint8(40 * sw % 256), uint8(120 * li), uint8(200 - 80*seed), 255},
						"content.png": {200, 200, 200, 255}},
				})
			}
		}
	}
	for i, lr := range []string{"0.1", "0.2"} {
		out = append(out, testRun{name: "s2-" + lr, params: map[string]string{"lr": lr, "loss": "gram", "size": "32"},
			tags: map[string]string{SweepTag: "s2"}, steps: 3,
			metrics: map[string]func(int) float64{"total": decay(float64(100 * (i + 1)))}})
	}
	out = append(out, testRun{name: "lone", params: map[string]string{"loss": "gram"}, steps: 2,
		metrics: map[string]func(int) float64{"total": func(int) float64 { return math.NaN() }}})
	return out
}

func TestThumbnail(t *testing.T) {
	im := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for i := 0; i < len(im.Pix); i += 4 {
		im.Pix[i], im.Pix[i+1], im.Pix[i+2], im.Pix[i+3] = 10, 150, 240, 255
	}
	var src bytes.Buffer
	if err := png.Encode(&src, im); err != nil {
		t.Fatal(err)
	}
	th, err := Thumbnail(src.Bytes(), ThumbSize)
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(th))
	if err != nil {
		t.Fatal(err)
	}
	// Longest side ThumbSize, aspect kept: 300×200 → 96×64; a flat colour stays that colour.
	if b := got.Bounds(); b.Dx() != 96 || b.Dy() != 64 {
		t.Fatalf("thumbnail is %v, want 96×64", b)
	}
	if r, g, b, _ := got.At(48, 32).RGBA(); r>>8 != 10 || g>>8 != 150 || b>>8 != 240 {
		t.Errorf("thumbnail colour (%d,%d,%d), want (10,150,240)", r>>8, g>>8, b>>8)
	}
	if len(th) >= src.Len() {
		t.Errorf("thumbnail %d bytes is not smaller than the %d-byte image", len(th), src.Len())
	}
	if _, err := Thumbnail([]byte("not an image"), ThumbSize); err == nil {
		t.Error("Thumbnail of text must fail")
	}
}

func TestThumbsRoute(t *testing.T) {
	path, ids := fillStore(t, threeRuns())
	st, srv := openServer(t, path, Options{})
	arts, _ := st.Artifacts(ids[0])
	var img, file tracker.Artifact
	for _, a := range arts {
		if a.Name == "output.png" {
			img = a
		} else if a.Name == "config.json" {
			file = a
		}
	}
	resp, body := get(t, srv, "/thumbs/"+img.SHA256)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" ||
		!strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.Contains(resp.Header.Get("ETag"), img.SHA256) {
		t.Fatalf("thumb: %d %v", resp.StatusCode, resp.Header)
	}
	if cfg, err := png.DecodeConfig(strings.NewReader(body)); err != nil || cfg.Width != 24 || cfg.Height != 16 {
		t.Errorf("thumb of a 24×16 image: %+v %v, want 24×16 (never enlarged)", cfg, err)
	}
	for p, code := range map[string]int{"/thumbs/xyz": 400, "/thumbs/" + strings.Repeat("0", 64): 404, "/thumbs/" + file.SHA256: 415} {
		if resp, body := get(t, srv, p); resp.StatusCode != code {
			t.Errorf("%s = %d %q, want %d", p, resp.StatusCode, body, code)
		}
	}
	// A damaged blob (not yet cached) is refused, never thumbnailed.
	arts1, _ := st.Artifacts(ids[1])
	var other tracker.Artifact
	for _, a := range arts1 {
		if a.Name == "output.png" {
			other = a
		}
	}
	p, err := st.ArtifactPath(other.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, tinyPNG(t, color.RGBA{1, 2, 3, 255}), 0o644); err != nil {
		t.Fatal(err)
	}
	if resp, body := get(t, srv, "/thumbs/"+other.SHA256); resp.StatusCode != 500 || !strings.Contains(body, "damaged") {
		t.Errorf("damaged blob: %d %q, want 500 damaged", resp.StatusCode, body)
	}
}

func TestGroupRuns(t *testing.T) {
	inf := math.Inf(1)
	runs := []*tracker.RunInfo{
		{ID: "a", Experiment: "e1", Params: map[string]string{"loss": "gram"}, Latest: map[string]float64{"total": 3}},
		{ID: "b", Experiment: "e1", Params: map[string]string{"loss": "gram"}, Latest: map[string]float64{"total": 1}},
		{ID: "c", Experiment: "e2", Params: map[string]string{"loss": "mmd"}, Latest: map[string]float64{"total": math.NaN()}},
		{ID: "d", Experiment: "e2", Params: map[string]string{}, Latest: map[string]float64{"total": inf}},
		{ID: "e", Experiment: "e2", Params: map[string]string{"loss": "mmd"}, Latest: map[string]float64{"total": 7}},
	}
	g, err := GroupRuns(runs, "params.loss", "total", "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Group{{Value: "gram", Count: 2, Best: 1, BestRun: "b"}, {Value: "mmd", Count: 2, Best: 7, BestRun: "e"}, {Value: "", Count: 1, Best: math.NaN()}}
	if len(g) != len(want) {
		t.Fatalf("groups %+v", g)
	}
	for i := range want {
		if g[i].Value != want[i].Value || g[i].Count != want[i].Count || g[i].BestRun != want[i].BestRun ||
			(want[i].BestRun != "" && g[i].Best != want[i].Best) {
			t.Errorf("group %d = %+v, want %+v", i, g[i], want[i])
		}
	}
	g, _ = GroupRuns(runs, "experiment", "total", "max")
	if len(g) != 2 || g[0].Value != "e2" || g[0].Best != 7 || g[1].Best != 3 || g[0].Count != 3 {
		t.Errorf("by experiment, max: %+v (±Inf and NaN are not best values)", g)
	}
	// Statistics over the finite values only: e1 {3, 1}, e2 {7} (NaN and +Inf left out).
	if g[1].N != 2 || g[1].Mean != 2 || math.Abs(g[1].Std-math.Sqrt2) > 1e-15 || g[1].Min != 1 || g[1].Max != 3 ||
		g[0].N != 1 || g[0].Mean != 7 || !math.IsNaN(g[0].Std) || g[0].Min != 7 {
		t.Errorf("group statistics %+v", g)
	}
	for _, bad := range [][2]string{{"status", "min"}, {"params.", "min"}, {"experiment", "median"}} {
		if _, err := GroupRuns(runs, bad[0], "total", bad[1]); err == nil {
			t.Errorf("GroupRuns(%q, best %q) must fail", bad[0], bad[1])
		}
	}
}

// The runs page's group table, counted against the store: each group's count equals the number of runs
// the group's own filter link selects, and its best value is the minimum over those runs.
func TestRunsPageGroupsAndThumbs(t *testing.T) {
	path, ids := fillStore(t, sweepRuns())
	st, srv := openServer(t, path, Options{})
	resp, body := get(t, srv, "/?group=sweep&metric=total")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	rows := regexp.MustCompile(`(?s)<tr data-group="([^"]*)">.*?<td class="num count">(\d+)</td>\s*<td class="num">([^<]*)<`).FindAllStringSubmatch(body, -1)
	got := map[string]string{}
	for _, r := range rows {
		got[r[1]] = r[2] + " " + r[3]
	}
	want := map[string]string{"s1": "12 1", "s2": "2 33.33", "": "1 <span class=\"muted\">—</span>"}
	if len(got) != 3 || got["s1"] != "12 1" || got["s2"] != "2 33.33" || !strings.HasPrefix(got[""], "1 ") {
		t.Errorf("groups %v, want %v", got, want)
	}
	for _, s := range []string{"s1", "s2"} {
		n, err := st.Search("tags.`sweep.id` = '"+s+"'", "", 1000)
		if err != nil || fmt.Sprint(len(n)) != strings.Fields(got[s])[0] {
			t.Errorf("sweep %s: store has %d runs (%v), page says %q", s, len(n), err, got[s])
		}
	}
	if !strings.Contains(body, `href="/sweeps/s1"`) {
		t.Error("the sweep group must link to its sweep view")
	}
	// Every run with an image has a thumbnail of its output.png, never the full image.
	for i, id := range ids[:12] {
		arts, _ := st.Artifacts(id)
		for _, a := range arts {
			if a.Name == "output.png" && !strings.Contains(body, `src="/thumbs/`+a.SHA256+`"`) {
				t.Errorf("run %d has no thumbnail of output.png", i)
			}
		}
	}
	if strings.Contains(body, `src="/artifacts/`) {
		t.Error("the runs table must not load full-size images")
	}
	if resp, _ := get(t, srv, "/?group=status"); resp.StatusCode != 400 {
		t.Errorf("group=status: %d, want 400", resp.StatusCode)
	}
	_, body = get(t, srv, "/?group=params.loss&metric=total&best=max")
	if !strings.Contains(body, "max total") || !regexp.MustCompile(`data-group="meanvar">.*?<td class="num count">6</td>\s*<td class="num">55<`).MatchString(strings.ReplaceAll(body, "\n", " ")) {
		t.Error("grouping by params.loss, best max: meanvar must have 6 runs and best 55 (25·2·1.1)")
	}
}

func TestRunPageImagesFirst(t *testing.T) {
	runs := threeRuns()[:1]
	runs[0].images = map[string]color.RGBA{"output.png": {1, 2, 3, 255}, "style-1.png": {4, 5, 6, 255}, "content.png": {7, 8, 9, 255}}
	path, ids := fillStore(t, runs)
	_, srv := openServer(t, path, Options{})
	_, body := get(t, srv, "/runs/"+ids[0])
	pos := func(s string) int {
		i := strings.Index(body, s)
		if i < 0 {
			t.Fatalf("run page lacks %q", s)
		}
		return i
	}
	order := []int{pos(`id="images"`), pos(`alt="content.png"`), pos(`alt="style-1.png"`), pos(`alt="output.png"`),
		pos(`id="metrics"`), pos(`id="params"`), pos(`id="provenance"`)}
	for i := 1; i < len(order); i++ {
		if order[i] < order[i-1] {
			t.Fatalf("run page order %v: want images (content, style, output), then metrics, params, provenance", order)
		}
	}
	_, body = get(t, srv, "/compare?ids="+ids[0])
	if i, j := strings.Index(body, `id="images"`), strings.Index(body, "<h2>Metrics</h2>"); i < 0 || j < 0 || i > j {
		t.Error("compare page: images must come before metrics")
	}
}

func TestSweepPage(t *testing.T) {
	path, _ := fillStore(t, sweepRuns())
	_, srv := openServer(t, path, Options{})
	data := func(body string) Sweep {
		m := regexp.MustCompile(`(?s)<script type="application/json" id="sweep-data">(.*?)</script>`).FindStringSubmatch(body)
		if m == nil {
			t.Fatal("no sweep data")
		}
		var sw Sweep
		if err := json.Unmarshal([]byte(m[1]), &sw); err != nil {
			t.Fatal(err)
		}
		return sw
	}
	resp, body := get(t, srv, "/sweeps/s1")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	sw := data(body)
	if len(sw.Runs) != 12 || strings.Join(sw.Swept, ",") != "loss,style_weight,seed" || sw.SweptFrom != "tag" || sw.Metric != "total" {
		t.Errorf("s1: %d runs, swept %v from %s, metric %s", len(sw.Runs), sw.Swept, sw.SweptFrom, sw.Metric)
	}
	for _, r := range sw.Runs {
		w, _ := strconv.ParseFloat(r.Params["style_weight"], 64)
		if r.Metrics["total"] == nil || *r.Metrics["total"] < w || !strings.Contains(body, `/thumbs/`) {
			t.Errorf("run %s: total %v", r.Label, r.Metrics["total"])
		}
	}
	// The API gives the same data.
	var api Sweep
	if resp, body := get(t, srv, "/api/sweeps/s1"); resp.StatusCode != 200 || json.Unmarshal([]byte(body), &api) != nil || len(api.Runs) != 12 || api.SweptFrom != "tag" {
		t.Errorf("/api/sweeps/s1: %d %.200s", resp.StatusCode, body)
	}
	if resp, body := get(t, srv, "/api/sweeps/nope"); resp.StatusCode != 404 || !strings.Contains(body, `"error"`) {
		t.Errorf("/api/sweeps/nope: %d %s", resp.StatusCode, body)
	}
	// No sweep.params tag: the params that differ.
	_, body = get(t, srv, "/sweeps/s2?metric=total")
	if sw := data(body); len(sw.Runs) != 2 || strings.Join(sw.Swept, ",") != "lr" || sw.SweptFrom != "differ" {
		t.Errorf("s2: %+v", sw)
	}
	for p, code := range map[string]int{"/sweeps/nope": 404, "/sweeps/s1?metric=nope": 400, "/sweeps/" + url.PathEscape(`a'b"c`): 404} {
		if resp, body := get(t, srv, p); resp.StatusCode != code {
			t.Errorf("%s = %d %q, want %d", p, resp.StatusCode, body, code)
		}
	}
	// A param value cannot break out of the JSON data block.
	evil := []testRun{{name: "x", params: map[string]string{"note": `</script><script>alert(1)</script>`}, tags: map[string]string{SweepTag: "s3"}}}
	path3, _ := fillStore(t, evil)
	_, srv3 := openServer(t, path3, Options{})
	if _, body := get(t, srv3, "/sweeps/s3"); strings.Contains(body, "alert(1)</script>") || data(body).Runs[0].Params["note"] != evil[0].params["note"] {
		t.Error("a param value escaped the sweep data block, or did not round-trip")
	}
	if resp, body := get(t, srv, "/assets/sweep.js"); resp.StatusCode != 200 || !strings.Contains(body, `type: "parallel"`) {
		t.Errorf("sweep.js: %d", resp.StatusCode)
	}
}

// Past CompareThumbsOver runs the compare page shows each image as a thumbnail linking to the full image;
// the self-contained report still inlines the full images.
func TestCompareManyUsesThumbnails(t *testing.T) {
	path, ids := fillStore(t, sweepRuns()[:CompareThumbsOver+1])
	st, srv := openServer(t, path, Options{})
	_, body := get(t, srv, "/compare?ids="+strings.Join(ids, ","))
	for _, id := range ids {
		arts, _ := st.Artifacts(id)
		for _, a := range arts {
			if !strings.Contains(body, `<a href="/artifacts/`+a.SHA256+`"><img class="thumb" src="/thumbs/`+a.SHA256+`"`) {
				t.Errorf("%s of run %s is not a thumbnail linking to the full image", a.Name, id[:8])
			}
		}
	}
	if i, j := strings.Index(body, `id="images"`), strings.Index(body, "<h2>Metrics</h2>"); i < 0 || i > j {
		t.Error("images must come first")
	}
	_, body = get(t, srv, "/compare?ids="+strings.Join(ids[:CompareThumbsOver], ","))
	if strings.Contains(body, `src="/thumbs/`) {
		t.Errorf("%d runs: full images expected", CompareThumbsOver)
	}
	var rep bytes.Buffer
	if err := WriteCompareReport(&rep, st, ids, Options{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(rep.String(), "/thumbs/") || strings.Count(rep.String(), `src="data:image/png;base64,`) != 2*len(ids) {
		t.Error("the report must inline every full image")
	}
}

// Group statistics agree with a two-pass reference (mean, then Σ(x−mean)²/(N−1)) on values with a large
// common offset, where the naive one-pass Σx² formula loses every digit.
func TestGroupStatisticsStable(t *testing.T) {
	var runs []*tracker.RunInfo
	var xs []float64
	for i := 0; i < 200; i++ {
		x := 1e9 + float64(i%7)*0.001 + float64(i)*1e-6
		xs = append(xs, x)
		runs = append(runs, &tracker.RunInfo{ID: fmt.Sprint(i), Experiment: "e", Latest: map[string]float64{"m": x}})
	}
	g, err := GroupRuns(runs, "experiment", "m", "")
	if err != nil || len(g) != 1 {
		t.Fatal(g, err)
	}
	mean := 0.0
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	ss := 0.0
	for _, x := range xs {
		ss += (x - mean) * (x - mean)
	}
	std := math.Sqrt(ss / float64(len(xs)-1))
	if math.Abs(g[0].Mean-mean) > 1e-6 || math.Abs(g[0].Std-std)/std > 1e-6 || g[0].N != 200 {
		t.Errorf("mean %.12g std %.12g, reference %.12g %.12g", g[0].Mean, g[0].Std, mean, std)
	}
}
