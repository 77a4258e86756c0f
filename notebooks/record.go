package notebooks

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/stylelab/stylelab/tracker/charts"
)

// The committed notebooks carry their outputs (`make notebooks` executes them and records them here), so that a
// reader sees the results without executing anything. MetaKey is the notebook metadata entry that says what the
// outputs came from:
//
//	"stylelab": {"sources_sha256": SourcesHash(code cells), "device": …, "executed": RFC 3339 UTC}
//
// TestNotebookOutputsCurrent checks the hash against the committed cells, so a code cell edited without
// executing the notebook again fails the tests.
const MetaKey = "stylelab"

// SourcesHash is the hash the outputs of a notebook depend on: the hex SHA-256 of the code cells' sources in
// order, each followed by a NUL byte, sha256(src₁ ‖ 0 ‖ src₂ ‖ 0 ‖ …). Markdown cells are left out (they do not
// change any output), so editing the prose keeps the recorded outputs (see Update).
func SourcesHash(cells []Cell) string {
	h := sha256.New()
	for _, c := range cells {
		if !c.Markdown {
			h.Write([]byte(c.Source))
			h.Write([]byte{0})
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// file is an .ipynb decoded generically (nbformat keeps keys sorted; encoding/json sorts map keys too), numbers
// kept as written.
type file map[string]any

func decode(b []byte) (file, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var f file
	if err := d.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a notebook (JSON): %w", err)
	}
	if _, ok := f["cells"].([]any); !ok {
		return nil, errors.New("not a notebook: no \"cells\" list")
	}
	return f, nil
}

// encode writes f indented by one space, as Jupyter does, without HTML escaping, ending in a newline.
func encode(f file) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (f file) cells() []map[string]any {
	var out []map[string]any
	for _, c := range f["cells"].([]any) {
		m, _ := c.(map[string]any)
		out = append(out, m)
	}
	return out
}

// joined decodes nbformat's string-or-list-of-strings.
func joined(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var b strings.Builder
		for _, e := range x {
			s, _ := e.(string)
			b.WriteString(s)
		}
		return b.String()
	}
	return ""
}

// lines is the list form nbformat writes multi-line strings in.
func lines(s string) []any {
	var out []any
	for _, l := range strings.SplitAfter(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Parse returns the cells (type and source) of an .ipynb file, with or without outputs.
func Parse(b []byte) ([]Cell, error) {
	f, err := decode(b)
	if err != nil {
		return nil, err
	}
	var cells []Cell
	for i, c := range f.cells() {
		switch c["cell_type"] {
		case "markdown", "code":
		default:
			return nil, fmt.Errorf("cell %d: cell_type %v, want markdown or code", i, c["cell_type"])
		}
		cells = append(cells, Cell{Markdown: c["cell_type"] == "markdown", Source: joined(c["source"])})
	}
	return cells, nil
}

// Recorded is what MetaKey holds.
type Recorded struct {
	SourcesSHA256 string `json:"sources_sha256"`
	Device        string `json:"device,omitempty"`   // backend.Info.Device of the machine that executed it
	Executed      string `json:"executed,omitempty"` // when, RFC 3339 UTC
}

// RecordedMeta reads MetaKey of an .ipynb file (ok false when the notebook carries none).
func RecordedMeta(b []byte) (r Recorded, ok bool, err error) {
	f, err := decode(b)
	if err != nil {
		return r, false, err
	}
	meta, _ := f["metadata"].(map[string]any)
	v, ok := meta[MetaKey]
	if !ok {
		return r, false, nil
	}
	raw, _ := json.Marshal(v)
	if err := json.Unmarshal(raw, &r); err != nil {
		return r, true, fmt.Errorf("metadata %q: %w", MetaKey, err)
	}
	return r, true, nil
}

// echartsLib is the ECharts library part of charts.Scripts(true) (everything before the stylelab init script),
// which every chart output of a notebook carries (~1 MB each).
var echartsLib = func() string {
	s := string(charts.Scripts(true))
	i := strings.Index(s, "</script>\n<script>\n"+string(charts.InitJS))
	if i < 0 {
		return ""
	}
	return s[:i+len("</script>")]
}()

// echartsOnce is what replaces the library in every chart output after the first one of a notebook.
const echartsOnce = "<script>/* Apache ECharts is inlined once per notebook, in its first chart output (stylelab make notebooks). */</script>"

// Record turns the executed notebook nb (nbconvert's output) into the form committed here:
//   - its cells must be exactly nb's (same types and sources), else it is an error;
//   - per-cell execution timestamps (metadata.execution) are dropped, as they change on every execution;
//   - the ECharts library is kept in the first chart output only: later chart outputs, rendered after it in the
//     same page, find window.echarts defined (the library is guarded by typeof window.echarts, so this is what
//     a browser does anyway), which saves ~1 MB per further chart;
//   - metadata[MetaKey] records SourcesHash, rec.Device and rec.Executed.
func Record(nb Notebook, executed []byte, rec Recorded) ([]byte, error) {
	f, err := decode(executed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nb.File, err)
	}
	got, err := Parse(executed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nb.File, err)
	}
	if err := sameCells(nb.Cells, got); err != nil {
		return nil, fmt.Errorf("executed %s does not hold the generator's cells (notebooks/nb*.go): %w", nb.File, err)
	}
	libKept := false
	for _, c := range f.cells() {
		if m, ok := c["metadata"].(map[string]any); ok {
			delete(m, "execution")
		}
		outs, _ := c["outputs"].([]any)
		for _, o := range outs {
			om, _ := o.(map[string]any)
			data, _ := om["data"].(map[string]any)
			h, ok := data["text/html"]
			if !ok || echartsLib == "" {
				continue
			}
			html := joined(h)
			if !strings.Contains(html, echartsLib) {
				continue
			}
			if libKept {
				html = strings.ReplaceAll(html, echartsLib, echartsOnce)
			} else {
				first := strings.Index(html, echartsLib) + len(echartsLib)
				html = html[:first] + strings.ReplaceAll(html[first:], echartsLib, echartsOnce)
				libKept = true
			}
			data["text/html"] = lines(html)
		}
	}
	meta, _ := f["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		f["metadata"] = meta
	}
	rec.SourcesSHA256 = SourcesHash(nb.Cells)
	meta[MetaKey] = rec
	return encode(f)
}

// sameCells says where two cell lists differ.
func sameCells(want, got []Cell) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d cells, want %d", len(got), len(want))
	}
	for i := range want {
		if want[i].Markdown != got[i].Markdown {
			return fmt.Errorf("cell %d: markdown %v, want %v", i, got[i].Markdown, want[i].Markdown)
		}
		if want[i].Source != got[i].Source {
			g, w := strings.Split(got[i].Source, "\n"), strings.Split(want[i].Source, "\n")
			for l := 0; ; l++ {
				var gl, wl string
				if l < len(g) {
					gl = g[l]
				}
				if l < len(w) {
					wl = w[l]
				}
				if gl != wl || l >= len(g) || l >= len(w) {
					return fmt.Errorf("cell %d differs at line %d: %q, want %q", i, l+1, cut(gl, 100), cut(wl, 100))
				}
			}
		}
	}
	return nil
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// CheckRecorded checks that a committed notebook's outputs came from its current cells: metadata[MetaKey]
// holds the SourcesHash of its code cells as they are now, and every code cell was executed, in order
// (execution_count 1, 2, …). It does not execute anything.
func CheckRecorded(b []byte) error {
	rec, ok, err := RecordedMeta(b)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("no outputs recorded (metadata %q missing): run `make notebooks`", MetaKey)
	}
	cells, err := Parse(b)
	if err != nil {
		return err
	}
	if h := SourcesHash(cells); h != rec.SourcesSHA256 {
		return fmt.Errorf("the outputs came from other code cells (sources_sha256 %s, the cells now hash to %s): a code cell changed without executing the notebook again; run `make notebooks`", rec.SourcesSHA256, h)
	}
	f, _ := decode(b)
	n := 0
	for i, c := range f.cells() {
		if c["cell_type"] != "code" {
			continue
		}
		n++
		if got := fmt.Sprint(c["execution_count"]); got != fmt.Sprint(n) {
			return fmt.Errorf("cell %d: execution_count %s, want %d (every code cell executed in order): run `make notebooks`", i, got, n)
		}
	}
	return nil
}

// Update writes every notebook into dir from the generator. A committed notebook whose code cells are unchanged
// keeps its outputs (only its markdown is replaced, and its hash still holds); one whose code changed is
// written without outputs, for `make notebooks` to execute.
func Update(dir string) error {
	for _, nb := range All() {
		path := filepath.Join(dir, nb.File)
		out, err := Marshal(nb)
		if err != nil {
			return err
		}
		if old, err := os.ReadFile(path); err == nil {
			if kept, ok := keepOutputs(nb, old); ok {
				out = kept
			}
		}
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// keepOutputs rewrites the recorded notebook old with nb's markdown when its code cells are nb's.
func keepOutputs(nb Notebook, old []byte) ([]byte, bool) {
	if CheckRecorded(old) != nil {
		return nil, false
	}
	cells, err := Parse(old)
	if err != nil || len(cells) != len(nb.Cells) || SourcesHash(cells) != SourcesHash(nb.Cells) {
		return nil, false
	}
	f, _ := decode(old)
	for i, c := range f.cells() {
		if cells[i].Markdown != nb.Cells[i].Markdown || (!cells[i].Markdown && cells[i].Source != nb.Cells[i].Source) {
			return nil, false
		}
		c["source"] = lines(nb.Cells[i].Source)
	}
	b, err := encode(f)
	return b, err == nil
}
