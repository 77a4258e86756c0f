package nbui

import (
	"bytes"
	"html/template"
)

// mustExec executes a template whose data cannot make it fail (the templates are fixed and tested).
func mustExec(t *template.Template, data any) string {
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		panic("nbui: " + t.Name() + ": " + err.Error())
	}
	return b.String()
}

// cell is one table cell: text, optionally a link and bold.
type cell struct {
	Text  string
	Href  string
	Bold  bool
	Title string // tooltip
}

type table struct {
	Caption string
	Header  []string
	Rows    [][]cell
}

const tableCSS = `border-collapse:collapse;font-size:13px;margin:4px 0`

var tableTpl = template.Must(template.New("table").Parse(
	`<table class="stylelab-table" style="` + tableCSS + `">` +
		`{{if .Caption}}<caption style="text-align:left;font-weight:bold;padding:2px 0">{{.Caption}}</caption>{{end}}` +
		`<thead><tr>{{range .Header}}<th style="border-bottom:2px solid #999;padding:3px 8px;text-align:left">{{.}}</th>{{end}}</tr></thead>` +
		`<tbody>{{range .Rows}}<tr>{{range .}}<td style="border-bottom:1px solid #ddd;padding:3px 8px;text-align:left"{{if .Title}} title="{{.Title}}"{{end}}>` +
		`{{if .Bold}}<b>{{end}}{{if .Href}}<a href="{{.Href}}" target="_blank">{{.Text}}</a>{{else}}{{.Text}}{{end}}{{if .Bold}}</b>{{end}}` +
		`</td>{{end}}</tr>{{end}}</tbody></table>`))

var progressTpl = template.Must(template.New("progress").Parse(
	`<div class="stylelab-progress" style="font-family:monospace;font-size:13px;max-width:640px">` +
		`<div><b>{{.Title}}</b> — step {{.Step}}/{{.Total}} ({{.Pct}}%) · {{.Elapsed}}{{if .ETA}} · {{.ETA}}{{end}} · {{.State}}</div>` +
		`<div style="background:#e4e4e4;height:10px;border-radius:3px;margin:3px 0">` +
		`<div style="background:{{.Color}};width:{{.Pct}}%;height:100%;border-radius:3px"></div></div>` +
		`{{if .Values}}<div>{{.Values}}</div>{{end}}</div>`))

type figure struct {
	Src     template.URL // data:image/png;base64,…
	Caption string
	W, H    int // displayed size in CSS pixels
	Pixel   bool
}

var imagesTpl = template.Must(template.New("images").Parse(
	`<div class="stylelab-images" style="display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start">` +
		`{{range .}}<figure style="margin:0;text-align:center">` +
		`<img src="{{.Src}}" width="{{.W}}" height="{{.H}}" alt="{{.Caption}}"{{if .Pixel}} style="image-rendering:pixelated"{{end}}>` +
		`<figcaption style="font-size:12px;max-width:{{.W}}px;word-wrap:break-word">{{.Caption}}</figcaption></figure>{{end}}</div>`))

type runCard struct {
	ID, Short, Name, Experiment, Status, StatusColor, Started, Duration, Error, URL string
	Params, Metrics, Tags                                                           [][2]string
	Provenance                                                                      int // number of provenance.* tags, not listed
}

var runCardTpl = template.Must(template.New("runcard").Parse(
	`<div class="stylelab-run" style="border:1px solid #ccc;border-radius:6px;padding:8px 12px;margin:6px 0;font-size:13px;max-width:720px">` +
		`<div style="font-size:15px"><b>{{if .Name}}{{.Name}}{{else}}(unnamed run){{end}}</b> ` +
		`<span style="background:{{.StatusColor}};color:#fff;border-radius:3px;padding:1px 6px;font-size:12px">{{.Status}}</span></div>` +
		`<div style="color:#555">run <code title="{{.ID}}">{{.Short}}</code> · experiment <b>{{.Experiment}}</b>{{if .Started}} · started {{.Started}}{{end}}{{if .Duration}} · {{.Duration}}{{end}}` +
		` · <a href="{{.URL}}" target="_blank">dashboard</a></div>` +
		`{{if .Error}}<div style="color:#c8372d">error: {{.Error}}</div>{{end}}` +
		`<div style="display:flex;gap:24px;flex-wrap:wrap">` +
		`{{if .Params}}<table style="` + tableCSS + `"><tr><th colspan="2" style="text-align:left">params</th></tr>{{range .Params}}<tr><td style="padding:1px 8px 1px 0;color:#555">{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}</table>{{end}}` +
		`{{if .Metrics}}<table style="` + tableCSS + `"><tr><th colspan="2" style="text-align:left">final metrics</th></tr>{{range .Metrics}}<tr><td style="padding:1px 8px 1px 0;color:#555">{{index . 0}}</td><td style="font-family:monospace">{{index . 1}}</td></tr>{{end}}</table>{{end}}` +
		`{{if .Tags}}<table style="` + tableCSS + `"><tr><th colspan="2" style="text-align:left">tags</th></tr>{{range .Tags}}<tr><td style="padding:1px 8px 1px 0;color:#555">{{index . 0}}</td><td>{{index . 1}}</td></tr>{{end}}` +
		`{{if .Provenance}}<tr><td colspan="2" style="color:#555">+ {{.Provenance}} provenance tags (on the dashboard)</td></tr>{{end}}</table>{{end}}` +
		`</div></div>`))
