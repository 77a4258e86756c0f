// Package nbui is what a notebook cell imports to show its work: a live progress bar updated in place, images in
// a captioned grid, loss charts of one run or an overlay of runs, a run card and a comparison table.
//
// Inside GoNB (gonbui.IsNotebook) everything is sent to the notebook as HTML (plus a PNG for image grids, so a
// saved notebook holds real image/png outputs). Outside a notebook — a test, a program — the same calls write
// plain text to Out instead, so cell code runs unchanged under `go test`.
//
// All HTML is built with html/template: run names, params and captions are escaped (a param value
// "<script>…" shows as text). Charts come from tracker/charts' Snippet, which inlines ECharts, so they render
// offline and in a saved notebook.
//
// State between cells: GoNB runs every cell as a new program, so nothing in memory survives a cell. What is
// expensive (an optimisation) is recorded as a tracker run — params, step metrics, the output image as an
// artifact — and later cells read it back from the tracker (kernel/lab does that for the notebooks).
package nbui

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// Out receives the plain-text rendering when the program does not run inside GoNB.
var Out io.Writer = os.Stdout

// InNotebook reports whether output goes to a GoNB notebook (true) or to Out as text (false). A variable so
// tests can force either path.
var InNotebook = gonbui.IsNotebook

// DashboardURL is the base address of `stylelab serve` used by links in run cards and tables:
// $STYLELAB_DASHBOARD_URL, else http://127.0.0.1:8080.
func DashboardURL() string {
	if u := os.Getenv("STYLELAB_DASHBOARD_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	return "http://127.0.0.1:8080"
}

// RunURL is the dashboard page of one run.
func RunURL(runID string) string { return DashboardURL() + "/runs/" + runID }

// show sends html (and, when png is not nil, the same content as a PNG in the same output) to the notebook,
// or writes text to Out.
func show(html, text string, png []byte) {
	if !InNotebook {
		io.WriteString(Out, text)
		if !strings.HasSuffix(text, "\n") {
			io.WriteString(Out, "\n")
		}
		return
	}
	data := map[protocol.MIMEType]any{protocol.MIMETextHTML: html}
	if png != nil {
		data[protocol.MIMEImagePNG] = png
	}
	gonbui.SendData(&protocol.DisplayData{Data: data})
	// Wait until GoNB has taken the output: a cell program that exits right after displaying a large output
	// (a chart carries ~1 MB of ECharts) otherwise loses it.
	gonbui.Sync()
}

// HTML shows trusted html in the notebook, or text outside one.
func HTML(html, text string) { show(html, text, nil) }

// Table shows rows under header as an HTML table (text table outside a notebook). Cells are escaped.
func Table(caption string, header []string, rows [][]string) {
	show(TableHTML(caption, header, rows), TableText(caption, header, rows), nil)
}

// TableHTML renders a table; every cell is escaped.
func TableHTML(caption string, header []string, rows [][]string) string {
	t := table{Caption: caption, Header: header}
	for _, r := range rows {
		var cs []cell
		for _, v := range r {
			cs = append(cs, cell{Text: v})
		}
		t.Rows = append(t.Rows, cs)
	}
	return mustExec(tableTpl, t)
}

// TableText renders a table as aligned plain text.
func TableText(caption string, header []string, rows [][]string) string {
	var b strings.Builder
	if caption != "" {
		b.WriteString(caption + "\n")
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
	return b.String()
}
