// Package notebooks generates the research notebooks of this folder (*.ipynb) from the cells written in Go
// source here, so they can be reviewed as code and regenerated:
//
//	go test ./notebooks -run TestNotebooksUpToDate -update
//
// The notebooks run on the "Go (stylelab)" GoNB kernel (stylelab kernel install). notebooks_test.go executes
// each one with `jupyter nbconvert --execute` and checks its outputs; `make notebooks` also writes them here with
// their outputs (record.go), and TestNotebookOutputsCurrent checks that those came from the current code cells.
package notebooks

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
)

// Cell is one notebook cell.
type Cell struct {
	Markdown bool
	Source   string
}

// Notebook is one .ipynb file.
type Notebook struct {
	File  string // file name in this folder
	Cells []Cell
}

// All lists the notebooks, in the order they are meant to run (later ones may read earlier ones' runs).
func All() []Notebook {
	return []Notebook{losses01(), controls02(), feedforward03(), compare04(), study05()}
}

// md is a markdown cell; "‵" stands for a backquote, which Go raw strings cannot hold.
func md(s string) Cell {
	return Cell{Markdown: true, Source: strings.ReplaceAll(strings.TrimSpace(s), "‵", "`")}
}

// code is a Go cell.
func code(s string) Cell { return Cell{Source: strings.TrimSpace(s)} }

// SetupCell is every notebook's first cell: it makes this repository's packages (and gonbui, which the
// repository's go.mod pins) importable from the kernel's scratch module. STYLELAB_ROOT comes from the kernelspec;
// without it the notebook's folder's parent is used.
const SetupCell = `!*go mod edit -require github.com/stylelab/stylelab@v0.0.0 -replace github.com/stylelab/stylelab=${STYLELAB_ROOT:-${GONB_DIR}/..}`

type ipynbCell struct {
	CellType       string         `json:"cell_type"`
	ExecutionCount *int           `json:"execution_count,omitempty"`
	Metadata       map[string]any `json:"metadata"`
	Outputs        *[]any         `json:"outputs,omitempty"`
	Source         []string       `json:"source"`
}

type ipynb struct {
	Cells         []ipynbCell    `json:"cells"`
	Metadata      map[string]any `json:"metadata"`
	NBFormat      int            `json:"nbformat"`
	NBFormatMinor int            `json:"nbformat_minor"`
}

// Marshal writes nb as nbformat 4.4 JSON with no outputs, indented like Jupyter writes it.
func Marshal(nb Notebook) ([]byte, error) {
	f := ipynb{
		Metadata: map[string]any{
			"kernelspec":    map[string]string{"name": "stylelab", "display_name": "Go (stylelab)", "language": "go"},
			"language_info": map[string]string{"name": "go", "file_extension": ".go", "mimetype": "text/x-go"},
		},
		NBFormat: 4, NBFormatMinor: 4,
	}
	for _, c := range nb.Cells {
		lines := strings.SplitAfter(c.Source, "\n")
		ic := ipynbCell{CellType: "markdown", Metadata: map[string]any{}, Source: lines}
		if !c.Markdown {
			ic.CellType = "code"
			ic.Outputs = &[]any{}
		}
		f.Cells = append(f.Cells, ic)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(f); err != nil {
		return nil, err
	}
	// Code cells carry "execution_count": null, as Jupyter writes them.
	out := strings.ReplaceAll(b.String(), `"cell_type": "code",`, `"cell_type": "code",`+"\n   \"execution_count\": null,")
	return []byte(out), nil
}

// Write writes every notebook into dir.
func Write(dir string) error {
	for _, nb := range All() {
		b, err := Marshal(nb)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, nb.File), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
