package nbui

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/tracker"
)

const evil = `<script>alert("x")</script>`

func assertEscaped(t *testing.T, html string) {
	t.Helper()
	if strings.Contains(html, "<script>alert") {
		t.Errorf("unescaped script in HTML:\n%s", html)
	}
	if !strings.Contains(html, "&lt;script&gt;alert") {
		t.Errorf("the escaped text is missing from:\n%s", html)
	}
}

// textMode switches output to a buffer for the test.
func textMode(t *testing.T) *bytes.Buffer {
	var b bytes.Buffer
	oldOut, oldNB := Out, InNotebook
	Out, InNotebook = &b, false
	t.Cleanup(func() { Out, InNotebook = oldOut, oldNB })
	return &b
}

func TestProgressHTML(t *testing.T) {
	v := ProgressView{Title: evil, Step: 2, Total: 10, Elapsed: 10 * time.Second, State: "running",
		Values: []NamedValue{{"total", 1.5}, {"style", math.NaN()}}}
	h := ProgressHTML(v)
	assertEscaped(t, h)
	if !strings.Contains(h, "width:20.0%") || !strings.Contains(h, "step 2/10") {
		t.Errorf("bar not at 20%%:\n%s", h)
	}
	if eta, ok := v.ETA(); !ok || eta != 40*time.Second {
		t.Errorf("ETA = %v %v, want 40s (10 s for 2 steps, 8 to go)", eta, ok)
	}
	if !strings.Contains(h, "ETA 40.0s") || !strings.Contains(h, "style=NaN") {
		t.Errorf("ETA or NaN value missing:\n%s", h)
	}
	v.State = "failed: boom"
	if h := ProgressHTML(v); !strings.Contains(h, "#c8372d") || strings.Contains(h, "ETA") {
		t.Errorf("failed state:\n%s", h)
	}
	if p := (ProgressView{Step: 30, Total: 10}).Percent(); p != 100 {
		t.Errorf("Percent past the end = %v, want clamped to 100", p)
	}
}

func TestProgressThrottlesText(t *testing.T) {
	out := textMode(t)
	now := time.Unix(0, 0)
	p := &Progress{Title: "opt", Total: 10, TextEvery: 5 * time.Second, now: func() time.Time { return now }}
	p.init()
	p.render(stateRunning, true) // what NewProgress does
	for step := 1; step <= 10; step++ {
		now = now.Add(time.Second)
		p.Update(step, map[string]float64{"style": float64(step), "total": 2 * float64(step)})
	}
	p.Done()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// t=0 (start), t=5 (throttle), t=10 (last step), Done.
	if len(lines) != 4 {
		t.Fatalf("%d lines, want 4:\n%s", len(lines), out)
	}
	if !strings.HasPrefix(lines[1], "opt  5/10  50%  5.0s  running  total=10  style=5") {
		t.Errorf("line 2 = %q (total first, then sorted)", lines[1])
	}
	if !strings.Contains(lines[3], "10/10  100%") || !strings.Contains(lines[3], "done") {
		t.Errorf("last line = %q", lines[3])
	}
}

func TestTable(t *testing.T) {
	h := TableHTML("cap", []string{"a", "b"}, [][]string{{"1", evil}})
	assertEscaped(t, h)
	if strings.Count(h, "<tr>") != 2 || strings.Count(h, "<td") != 2 {
		t.Errorf("shape:\n%s", h)
	}
	txt := TableText("", []string{"loss", "value"}, [][]string{{"gram", "1"}, {"mmd-linear", "22"}})
	if want := "loss        value\ngram        1\nmmd-linear  22\n"; txt != want {
		t.Errorf("text table:\n%q\nwant\n%q", txt, want)
	}
}

func testImage(w, h int, r, g, b float32) *imageio.Image {
	im := imageio.New(w, h)
	for i := 0; i < w*h; i++ {
		im.Pix[3*i], im.Pix[3*i+1], im.Pix[3*i+2] = r, g, b
	}
	return im
}

func TestImagesHTML(t *testing.T) {
	ims := []*imageio.Image{testImage(48, 32, 1, 0, 0), testImage(200, 100, 0, 0, 1)}
	h, err := ImagesHTML([]string{evil, "big"}, ims)
	if err != nil {
		t.Fatal(err)
	}
	assertEscaped(t, h)
	srcs := regexp.MustCompile(`src="data:image/png;base64,([^"]+)"`).FindAllStringSubmatch(h, -1)
	if len(srcs) != 2 {
		t.Fatalf("%d data URIs, want 2:\n%.400s", len(srcs), h)
	}
	raw, _ := base64.StdEncoding.DecodeString(srcs[0][1])
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil || img.Bounds().Dx() != 48 || img.Bounds().Dy() != 32 {
		t.Fatalf("first image does not decode to 48x32: %v %v", err, img)
	}
	if r, g, b, _ := img.At(5, 5).RGBA(); r != 0xffff || g != 0 || b != 0 {
		t.Errorf("pixel (5,5) = %v %v %v, want red", r, g, b)
	}
	// 48 px is shown 4x (192 >= MinDisplay) with pixelated scaling; 200 px as is.
	if !strings.Contains(h, `width="192" height="128"`) || !strings.Contains(h, `width="200" height="100" alt="big">`) {
		t.Errorf("display sizes:\n%s", regexp.MustCompile(`base64,[^"]+`).ReplaceAllString(h, "…"))
	}
	if _, err := ImagesHTML([]string{"one"}, ims); err == nil {
		t.Error("1 caption for 2 images accepted")
	}
	nan := testImage(4, 4, 0, 0, 0)
	nan.Pix[0] = float32(math.NaN())
	if _, err := ImagesHTML([]string{"nan"}, []*imageio.Image{nan}); err == nil || !strings.Contains(err.Error(), "nan") {
		t.Errorf("an image with NaN: %v, want an error naming it", err)
	}
}

func TestMontage(t *testing.T) {
	ims := []*imageio.Image{testImage(40, 40, 1, 0, 0), testImage(40, 20, 0, 1, 0)}
	m, err := Montage([]string{"red", "a very long caption that cannot fit"}, ims)
	if err != nil {
		t.Fatal(err)
	}
	// scale(40,40) = 4: tiles of 160x160, 2 columns, gap 8, caption strip 18.
	if w, h := m.Bounds().Dx(), m.Bounds().Dy(); w != 2*160+3*8 || h != 160+18+2*8 {
		t.Errorf("montage %dx%d, want 344x194", w, h)
	}
	if c := m.NRGBAAt(8+80, 8+80); c.R != 255 || c.G != 0 {
		t.Errorf("centre of tile 1 = %v, want red", c)
	}
	// The green 160x80 tile is centred vertically in its 160-high cell.
	if c := m.NRGBAAt(8+160+8+80, 8+80); c.G != 255 || c.R != 0 {
		t.Errorf("centre of tile 2 = %v, want green", c)
	}
	if c := m.NRGBAAt(8+160+8+80, 8+10); c.R != 255 || c.G != 255 {
		t.Errorf("above the short tile = %v, want white background", c)
	}
	dark := 0
	for y := 8 + 160; y < 8+160+18; y++ {
		for x := 8; x < 8+160; x++ {
			if m.NRGBAAt(x, y).R < 128 {
				dark++
			}
		}
	}
	if dark < 20 {
		t.Errorf("caption strip has %d dark pixels: no caption drawn", dark)
	}
	if got := fitText("a very long caption", 8); got != "a very ~" {
		t.Errorf("fitText = %q", got)
	}
}

func TestImagesText(t *testing.T) {
	out := textMode(t)
	if err := Images(nil, testImage(4, 3, 0, 0, 0), testImage(5, 6, 0, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if want := "image \"1\" 4x3\nimage \"2\" 5x6\n"; out.String() != want {
		t.Errorf("text output %q, want %q", out, want)
	}
	if err := Images([]string{"a"}); err == nil {
		t.Error("a caption without image accepted")
	}
}

func testRuns() []tracker.RunInfo {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return []tracker.RunInfo{
		{ID: "aaaaaaaa-1111", Experiment: "01-losses", Name: "gram", Status: "FINISHED", Start: t0, End: t0.Add(90 * time.Second),
			Params: map[string]string{"loss": "gram", "size": "48", "note": evil},
			Tags:   map[string]string{"lab.key": "k1", "provenance.host": "vm", "provenance.os": "linux"},
			Latest: map[string]float64{"style": 0.5, "content": 2}},
		{ID: "bbbbbbbb-2222", Experiment: "01-losses", Name: "mmd", Status: "FAILED", Error: "NaN at step 3",
			Params: map[string]string{"loss": "mmd-gauss", "size": "48"},
			Latest: map[string]float64{"style": 0.25, "content": math.NaN()}},
	}
}

func TestRunCard(t *testing.T) {
	t.Setenv("STYLELAB_DASHBOARD_URL", "http://127.0.0.1:9999/")
	r := testRuns()
	h := RunCardHTML(&r[0])
	assertEscaped(t, h)
	for _, want := range []string{`href="http://127.0.0.1:9999/runs/aaaaaaaa-1111"`, ">aaaaaaaa<", "FINISHED", "1m30s", ">0.5<", ">size<", ">48<"} {
		if !strings.Contains(h, want) {
			t.Errorf("run card lacks %q:\n%s", want, h)
		}
	}
	if !strings.Contains(h, ">lab.key<") || strings.Contains(h, "provenance.host") || !strings.Contains(h, "+ 2 provenance tags") {
		t.Errorf("tags: lab.key shown, provenance counted:\n%s", h)
	}
	if h := RunCardHTML(&r[1]); !strings.Contains(h, "error: NaN at step 3") || !strings.Contains(h, "#c8372d") {
		t.Errorf("failed run card:\n%s", h)
	}
	txt := RunCardText(&r[0])
	if !strings.Contains(txt, "param  loss = gram") || !strings.Contains(txt, "metric style = 0.5") {
		t.Errorf("text card:\n%s", txt)
	}
}

func TestCompare(t *testing.T) {
	r := testRuns()
	c := Compare(r, nil)
	if strings.Join(c.Params, ",") != "loss,note" {
		t.Errorf("differing params = %v, want loss,note (size is the same in both)", c.Params)
	}
	if strings.Join(c.Metrics, ",") != "content,style" {
		t.Errorf("metrics = %v", c.Metrics)
	}
	if c.Best["style"] != 1 || c.Best["content"] != 0 {
		t.Errorf("best = %v, want style→run 1 (0.25), content→run 0 (NaN never wins)", c.Best)
	}
	h := c.HTML("runs")
	assertEscaped(t, h)
	if !strings.Contains(h, "<b>0.25</b>") || !strings.Contains(h, "<b>2</b>") || strings.Contains(h, "<b>0.5</b>") {
		t.Errorf("best values not bold:\n%s", h)
	}
	if txt := c.Text(""); !strings.Contains(txt, "0.25*") || !strings.Contains(txt, "NaN") {
		t.Errorf("text:\n%s", txt)
	}
	if one := Compare(r[:1], []string{"style"}); len(one.Params) != 3 || len(one.Metrics) != 1 {
		t.Errorf("a single run shows all its params: %+v", one)
	}
}
