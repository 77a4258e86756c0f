package notebooks

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/kernel/setup"
	"github.com/stylelab/stylelab/tracker/assets"
	"github.com/stylelab/stylelab/tracker/charts/chartstest"
)

var (
	update = flag.Bool("update", false, "rewrite the .ipynb files from the cells in this package (keeping the outputs of notebooks whose code cells did not change)")
	record = flag.Bool("record", false, "TestNotebooksExecute: write each executed notebook that passes, with its outputs, over the committed one (make notebooks)")
)

// TestNotebooksUpToDate checks that the committed notebooks hold the cells this package generates (types and
// sources; their outputs are TestNotebookOutputsCurrent's business). Regenerate with:
// go test ./notebooks -run TestNotebooksUpToDate -update
func TestNotebooksUpToDate(t *testing.T) {
	if *update {
		if err := Update("."); err != nil {
			t.Fatal(err)
		}
	}
	for _, nb := range All() {
		got, err := os.ReadFile(nb.File)
		if err != nil {
			t.Fatalf("%v (generate it: go test ./notebooks -run TestNotebooksUpToDate -update)", err)
		}
		cells, err := Parse(got)
		if err != nil {
			t.Fatalf("%s: %v", nb.File, err)
		}
		if err := sameCells(nb.Cells, cells); err != nil {
			t.Errorf("%s differs from the generator in notebooks/nb*.go (%v): edit the Go source and run go test ./notebooks -run TestNotebooksUpToDate -update", nb.File, err)
		}
		var meta struct {
			Metadata struct {
				Kernelspec struct{ Name string } `json:"kernelspec"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(got, &meta); err != nil || meta.Metadata.Kernelspec.Name != setup.KernelName {
			t.Errorf("%s: kernelspec %q (%v), want %q", nb.File, meta.Metadata.Kernelspec.Name, err, setup.KernelName)
		}
		if !strings.Contains(nb.Cells[1].Source, "go mod edit") || nb.Cells[0].Markdown == false {
			t.Errorf("%s must open with a markdown explanation and then the go mod edit cell", nb.File)
		}
		// Every code cell but the set-up one is preceded by a markdown explanation.
		for i, c := range nb.Cells {
			if i > 0 && !c.Markdown && !nb.Cells[i-1].Markdown && i != 1 {
				t.Errorf("%s: code cell %d has no markdown cell before it", nb.File, i)
			}
		}
	}
}

// maxNotebookBytes bounds a committed notebook with its outputs.
const maxNotebookBytes = 3 << 20

var cdnScript = regexp.MustCompile(`(?i)<script[^>]*\ssrc\s*=\s*["']?(https?:)?//`)

// TestNotebookOutputsCurrent checks, without executing anything, that every committed notebook carries outputs
// that came from its current code cells (CheckRecorded: the sources hash in its metadata, every code cell
// executed in order), that the outputs are what TestNotebooksExecute checks (no error, the images and charts,
// 01's identity line), that they render offline (no script loaded from a URL, ECharts inlined exactly once),
// and that the file stays under 3 MiB.
func TestNotebookOutputsCurrent(t *testing.T) {
	for _, nb := range All() {
		t.Run(strings.TrimSuffix(nb.File, ".ipynb"), func(t *testing.T) {
			b, err := os.ReadFile(nb.File)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckRecorded(b); err != nil {
				t.Fatalf("%s: %v", nb.File, err)
			}
			checkOutputs(t, nb.File, b)
			if len(b) > maxNotebookBytes {
				t.Errorf("%s is %d bytes with its outputs, want at most %d", nb.File, len(b), maxNotebookBytes)
			}
			if m := cdnScript.FindString(string(b)); m != "" {
				t.Errorf("%s loads a script from the network: %s", nb.File, m)
			}
			if n := strings.Count(string(b), "Apache ECharts "+assets.EchartsVersion); n != 1 {
				t.Errorf("%s carries %d copies of ECharts, want 1", nb.File, n)
			}
			rec, _, _ := RecordedMeta(b)
			t.Logf("%s: %d bytes, executed %s on %s", nb.File, len(b), rec.Executed, rec.Device)
		})
	}
}

// TestCheckRecordedRefusesStaleOutputs: a code cell edited after execution, a markdown cell edited (allowed),
// a notebook without the record and one with a cell left unexecuted.
func TestCheckRecordedRefusesStaleOutputs(t *testing.T) {
	nb := Notebook{File: "x.ipynb", Cells: []Cell{md("# t"), code("fmt.Println(1)"), md("two"), code("fmt.Println(2)")}}
	raw, err := Marshal(nb)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRecorded(raw); err == nil || !strings.Contains(err.Error(), "make notebooks") {
		t.Fatalf("a notebook without outputs: %v, want an error naming make notebooks", err)
	}
	f, _ := decode(raw)
	for i, c := range f.cells() {
		if c["cell_type"] == "code" {
			c["execution_count"] = json.Number(strconv.Itoa(i/2 + 1))
			c["outputs"] = []any{map[string]any{"output_type": "stream", "name": "stdout", "text": []any{"1\n"}}}
			c["metadata"] = map[string]any{"execution": map[string]any{"iopub.status.idle": "2026-01-01T00:00:00Z"}}
		}
	}
	executed, _ := encode(f)
	rec, err := Record(nb, executed, Recorded{Device: "test device"})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRecorded(rec); err != nil {
		t.Fatalf("freshly recorded: %v", err)
	}
	if strings.Contains(string(rec), "iopub.status.idle") {
		t.Error("Record kept the execution timestamps")
	}
	edit := func(cell int, src string, count any) []byte {
		f, _ := decode(rec)
		c := f.cells()[cell]
		if src != "" {
			c["source"] = lines(src)
		}
		if count != nil {
			c["execution_count"] = count
		}
		b, _ := encode(f)
		return b
	}
	if err := CheckRecorded(edit(3, "fmt.Println(3)", nil)); err == nil || !strings.Contains(err.Error(), "code cell changed") {
		t.Errorf("code cell edited after execution: %v, want a stale-outputs error", err)
	}
	if err := CheckRecorded(edit(2, "two, reworded", nil)); err != nil {
		t.Errorf("markdown edited: %v, want ok (outputs do not depend on it)", err)
	}
	if err := CheckRecorded(edit(3, "", nil)); err != nil {
		t.Errorf("unchanged: %v", err)
	}
	if err := CheckRecorded(edit(3, "", json.Number("7"))); err == nil || !strings.Contains(err.Error(), "execution_count") {
		t.Errorf("cell not executed in order: %v", err)
	}
	// Record refuses an executed notebook whose cells are not the generator's.
	other := nb
	other.Cells = append([]Cell{}, nb.Cells...)
	other.Cells[1] = code("fmt.Println(0)")
	if _, err := Record(other, executed, Recorded{}); err == nil || !strings.Contains(err.Error(), "cell 1 differs") {
		t.Errorf("Record of another notebook's execution: %v", err)
	}
}

// output is a Jupyter cell output.
type output struct {
	OutputType string          `json:"output_type"`
	Name       string          `json:"name"`
	Text       json.RawMessage `json:"text"`
	Data       map[string]any  `json:"data"`
	EName      string          `json:"ename"`
	EValue     string          `json:"evalue"`
	Traceback  []string        `json:"traceback"`
}

type executed struct {
	Cells []struct {
		CellType string   `json:"cell_type"`
		Outputs  []output `json:"outputs"`
	} `json:"cells"`
}

// multiline decodes nbformat's string-or-list-of-strings.
func multiline(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var l []string
	json.Unmarshal(raw, &l)
	return strings.Join(l, "")
}

// nbEnv prepares a kernelspec in a temporary Jupyter data dir (the same kernel.json `stylelab kernel install`
// writes, with a temporary tracker database) and returns the environment for jupyter. Missing tools are a
// failure naming `make deps`.
func nbEnv(t *testing.T) (env []string, dir string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: executing notebooks takes minutes")
	}
	var missing []string
	if _, err := exec.LookPath("jupyter"); err != nil {
		missing = append(missing, "jupyter (Debian: jupyter-core)")
	}
	if m, err := setup.MissingPackages(setup.KernelPackages); err != nil || len(m) > 0 {
		missing = append(missing, fmt.Sprintf("Debian packages %v %v", m, err))
	}
	root, err := setup.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	c, err := setup.Detect(root)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := setup.PinnedVersions(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range setup.Tools {
		if v, err := setup.InstalledVersion(c.ToolPath(tool.Name), tool.Module); err != nil || v != pinned[tool.Module] {
			missing = append(missing, fmt.Sprintf("%s %s in %s (%v)", tool.Name, pinned[tool.Module], c.BinDir, err))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("cannot execute notebooks, missing: %s\n`make deps` installs them (CI does)", strings.Join(missing, "; "))
	}
	dir = t.TempDir()
	c.DataDir = filepath.Join(dir, "jupyter")
	c.DB = filepath.Join(dir, "runs", "stylelab.db")
	if _, err := setup.WriteKernelSpec(c, os.Getenv("PATH")); err != nil {
		t.Fatal(err)
	}
	env = append(os.Environ(),
		"JUPYTER_DATA_DIR="+c.DataDir, "JUPYTER_PATH="+c.DataDir,
		"JUPYTER_RUNTIME_DIR="+filepath.Join(dir, "runtime"),
		"JUPYTER_CONFIG_DIR="+filepath.Join(dir, "config"),
		// Links point at `stylelab serve`'s default address (what a reader of the recorded notebook would start),
		// while the check address has nothing listening: the dashboard cell shows how to start it.
		"STYLELAB_DASHBOARD_URL=http://127.0.0.1:8080", "STYLELAB_DASHBOARD_CHECK_URL=http://127.0.0.1:1",
		"PYDEVD_DISABLE_FILE_VALIDATION=1",
	)
	return env, dir
}

// identityLine is what 01's identity cell prints.
var identityLine = regexp.MustCompile(`gram = mmd-poly: max relative difference ([0-9.eE+-]+) on the photograph`)

// TestNotebooksExecute executes every notebook, in order, with `jupyter nbconvert --execute` on a copy in a
// temporary folder, all sharing one temporary tracker database, and checks the outputs: no error, no panic, at
// least one image/png and one chart (text/html holding a stylelab chart), and for 01 a near-zero
// gram − mmd-poly difference. STYLELAB_NOTEBOOK_OUT=DIR keeps the executed notebooks there.
func TestNotebooksExecute(t *testing.T) {
	env, dir := nbEnv(t)
	work := filepath.Join(dir, "notebooks")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := os.Getenv("STYLELAB_NOTEBOOK_OUT")
	for _, nb := range All() {
		src, err := Marshal(nb) // the generator's cells, no outputs
		if err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(work, nb.File)
		if err := os.WriteFile(in, src, 0o644); err != nil {
			t.Fatal(err)
		}
		ok := t.Run(strings.TrimSuffix(nb.File, ".ipynb"), func(t *testing.T) {
			out := "executed-" + nb.File
			cmd := exec.Command("jupyter", "nbconvert", "--to", "notebook", "--execute",
				"--ExecutePreprocessor.timeout=900", "--ExecutePreprocessor.kernel_name="+setup.KernelName,
				"--output", out, in)
			cmd.Dir = work
			cmd.Env = env
			start := time.Now()
			log, err := cmd.CombinedOutput()
			t.Logf("%s executed in %.1f s", nb.File, time.Since(start).Seconds())
			if err != nil {
				t.Fatalf("jupyter nbconvert --execute %s: %v\n%s", nb.File, err, tail(string(log), 6000))
			}
			b, err := os.ReadFile(filepath.Join(work, out))
			if err != nil {
				t.Fatal(err)
			}
			if keep != "" {
				os.MkdirAll(keep, 0o755)
				os.WriteFile(filepath.Join(keep, nb.File), b, 0o644)
			}
			checkOutputs(t, nb.File, b)
			// What is committed (Record: ECharts once, no timestamps, the sources hash) must draw its charts too.
			rec, err := Record(nb, b, Recorded{Device: backend.Current().Device(), Executed: time.Now().UTC().Format(time.RFC3339)})
			if err != nil {
				t.Fatal(err)
			}
			recorded := "recorded-" + nb.File
			if err := os.WriteFile(filepath.Join(work, recorded), rec, 0o644); err != nil {
				t.Fatal(err)
			}
			checkOutputs(t, nb.File, rec)
			checkChartsDrawn(t, work, recorded, env)
			if *record && !t.Failed() {
				if err := os.WriteFile(nb.File, rec, 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("recorded %s with its outputs: %d bytes (%d as executed)", nb.File, len(rec), len(b))
			}
		})
		if !ok {
			break // later notebooks may read earlier ones' runs
		}
	}
}

func checkOutputs(t *testing.T, name string, b []byte) {
	var nb executed
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatal(err)
	}
	var pngs, charts int
	var stdout strings.Builder
	for i, c := range nb.Cells {
		for _, o := range c.Outputs {
			switch o.OutputType {
			case "error":
				t.Errorf("cell %d: error output %s: %s\n%s", i, o.EName, o.EValue, strings.Join(o.Traceback, "\n"))
			case "stream":
				txt := multiline(o.Text)
				if o.Name == "stdout" {
					stdout.WriteString(txt)
				}
				if strings.Contains(txt, "panic:") || strings.Contains(txt, "goroutine ") {
					t.Errorf("cell %d: %s shows a panic:\n%s", i, o.Name, tail(txt, 3000))
				}
			case "display_data", "execute_result":
				if _, ok := o.Data["image/png"]; ok {
					pngs++
				}
				if h, ok := o.Data["text/html"]; ok {
					html := joined(h)
					if strings.Contains(html, "data-stylelab-chart") && strings.Contains(html, "echarts") {
						charts++
					}
					if strings.Contains(html, "gonb-err") {
						t.Errorf("cell %d: GoNB error display:\n%s", i, tail(html, 2000))
					}
				}
			}
		}
	}
	// What each notebook displays; fewer means an output was lost (or a cell stopped showing it).
	want := map[string][2]int{"01-losses.ipynb": {2, 2}, "02-controls.ipynb": {2, 1}, "03-feedforward.ipynb": {3, 1}, "04-compare-runs.ipynb": {1, 2}, "05-study.ipynb": {1, 1}}[name]
	if pngs == 0 || pngs < want[0] {
		t.Errorf("%s produced %d image/png outputs, want at least max(1, %d)", name, pngs, want[0])
	}
	if charts == 0 || charts < want[1] {
		t.Errorf("%s produced %d chart outputs (text/html with a stylelab chart), want at least max(1, %d)", name, charts, want[1])
	}
	t.Logf("%s: %d image/png outputs, %d chart outputs", name, pngs, charts)
	if strings.HasPrefix(name, "01-") {
		m := identityLine.FindStringSubmatch(stdout.String())
		if m == nil {
			t.Errorf("01: the identity cell printed no %q line", identityLine)
		} else if v, err := strconv.ParseFloat(m[1], 64); err != nil || !(v < 1e-3) {
			t.Errorf("01: gram − mmd-poly relative difference %s, want < 1e-3", m[1])
		} else {
			t.Logf("01: gram = mmd-poly to a relative %.2e", v)
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

var chartID = regexp.MustCompile(`<div id="([A-Za-z0-9_-]+)" class="stylelab-chart"`)

// checkChartsDrawn converts the executed notebook to HTML (what a saved notebook looks like outside Jupyter) and
// opens it from a file in headless Chromium without network: every chart must be drawn by the ECharts copy the
// notebook carries. It skips (or fails with STYLELAB_REQUIRE_BROWSER=1) without Chromium, as the charts' own
// browser tests do.
func checkChartsDrawn(t *testing.T, dir, executed string, env []string) {
	ctx := chartstest.Browser(t)
	html := strings.TrimSuffix(executed, ".ipynb") + ".html"
	cmd := exec.Command("jupyter", "nbconvert", "--to", "html", "--output", html, executed)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("jupyter nbconvert --to html: %v\n%s", err, tail(string(out), 3000))
	}
	b, err := os.ReadFile(filepath.Join(dir, html))
	if err != nil {
		t.Fatal(err)
	}
	ids := chartID.FindAllStringSubmatch(string(b), -1)
	if len(ids) == 0 {
		t.Fatal("the HTML export holds no chart")
	}
	if err := chromedp.Do(ctx, chromedp.Navigate("file://"+filepath.Join(dir, html))); err != nil {
		t.Fatal(err)
	}
	drawn := 0
	for _, m := range ids {
		d, err := chartstest.Inspect(ctx, m[1], 30*time.Second)
		if err != nil {
			t.Errorf("chart %s in the saved notebook: %v", m[1], err)
			continue
		}
		if d.Series == 0 || d.Pixels == 0 {
			t.Errorf("chart %s in the saved notebook drew %d series and %d line pixels", m[1], d.Series, d.Pixels)
			continue
		}
		drawn++
	}
	t.Logf("%d of %d charts drawn from the saved notebook's HTML in Chromium", drawn, len(ids))
}
