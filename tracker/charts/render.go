package charts

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"strings"

	gocharts "github.com/go-echarts/go-echarts/v2/charts"
	"github.com/stylelab/stylelab/tracker/assets"
)

// AssetsPath is the URL path where Page expects the scripts EchartsFile and InitFile (the dashboard serves
// both there); it is also the go-echarts assets host of every chart built here, so no chart refers to a CDN.
const AssetsPath = "/assets/"

// File names of the two scripts under AssetsPath.
const (
	EchartsFile = "echarts.min.js"
	InitFile    = "stylelab-charts.js"
)

// InitJS is the script (served as AssetsPath+InitFile) that mounts every chart Element on a page:
// for each <script type="application/json" data-stylelab-chart="ID"> it calls echarts.init on the element ID
// and setOption with the parsed JSON. Including it several times is harmless.
//
//go:embed init.js
var InitJS []byte

// OptionJSON is the chart's ECharts option as JSON, with '<', '>' and '&' escaped (\u003c …) so that it is
// safe inside HTML. It fails when an option holds a JavaScript function (go-echarts types.FuncStr), which
// JSON cannot carry.
func OptionJSON(c *gocharts.Line) ([]byte, error) {
	c.Validate()
	b, err := json.Marshal(c.JSON())
	if err != nil {
		return nil, fmt.Errorf("encoding the chart %q as JSON: %w", c.Title.Title, err)
	}
	if bytes.Contains(b, []byte("__f__")) {
		return nil, fmt.Errorf("chart %q holds a JavaScript function option (types.FuncStr); stylelab renders options as JSON, so use plain values", c.Title.Title)
	}
	return b, nil
}

// Element is the chart's HTML without any executable script:
//
//	<div id="ID" class="stylelab-chart" style="width:W;height:H"></div>
//	<script type="application/json" data-stylelab-chart="ID">OPTION</script>
//
// A page that includes it must also load echarts.min.js and InitJS (see Scripts).
func Element(c *gocharts.Line) (template.HTML, error) {
	opt, err := OptionJSON(c)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	err = elementTpl.Execute(&b, struct {
		ID, Width, Height string
		Option            template.JS
	}{sanitizeID(c.ChartID), c.Initialization.Width, c.Initialization.Height, template.JS(opt)})
	if err != nil {
		return "", err
	}
	return template.HTML(b.String()), nil
}

var elementTpl = template.Must(template.New("element").Parse(
	`<div id="{{.ID}}" class="stylelab-chart" style="width:{{.Width}};height:{{.Height}}"></div>` +
		`<script type="application/json" data-stylelab-chart="{{.ID}}">{{.Option}}</script>`))

// Scripts is the HTML that loads ECharts and InitJS: <script src> tags under AssetsPath, or, when inline is
// true, the scripts themselves (a self-contained file that works offline, ~1 MB). ECharts is defined only
// when window.echarts is not already, and AMD/CommonJS loaders (Jupyter's require.js) are hidden from its UMD
// wrapper so that it always sets window.echarts.
func Scripts(inline bool) template.HTML {
	if !inline {
		return template.HTML(`<script src="` + AssetsPath + EchartsFile + `"></script>` + "\n" +
			`<script src="` + AssetsPath + InitFile + `"></script>`)
	}
	return template.HTML(inlineScripts)
}

var inlineScripts = "<script>/*! Apache ECharts " + assets.EchartsVersion + " (Apache License 2.0), bundling zrender (BSD 3-Clause, Copyright (c) 2017 Baidu Inc.).\n" +
	strings.ReplaceAll(string(assets.Notice), "*/", "* /") + "*/\n" +
	"if (typeof window.echarts === \"undefined\") { (function () { var define, exports, module;\n" +
	string(assets.EchartsJS) + "\n}).call(window); }\n</script>\n<script>\n" + string(InitJS) + "</script>"

var pageTpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font-family:system-ui,sans-serif;margin:16px auto;max-width:1200px;padding:0 16px}.stylelab-chart{margin:16px 0}</style>
{{.Scripts}}
</head>
<body>
<h1>{{.Title}}</h1>
{{range .Charts}}{{.}}
{{end}}</body>
</html>
`))

func writePage(w io.Writer, title string, inline bool, cs []*gocharts.Line) error {
	els := make([]template.HTML, 0, len(cs))
	for _, c := range cs {
		e, err := Element(c)
		if err != nil {
			return err
		}
		els = append(els, e)
	}
	return pageTpl.Execute(w, struct {
		Title   string
		Scripts template.HTML
		Charts  []template.HTML
	}{title, Scripts(inline), els})
}

// Page writes a full HTML page holding the charts, loading ECharts from AssetsPath (the dashboard's
// /assets/), never from a CDN.
func Page(w io.Writer, title string, cs ...*gocharts.Line) error {
	return writePage(w, title, false, cs)
}

// StandalonePage writes a full HTML page holding the charts with ECharts inlined: one file that renders
// offline without a server.
func StandalonePage(w io.Writer, title string, cs ...*gocharts.Line) error {
	return writePage(w, title, true, cs)
}

// Snippet is an HTML fragment with the charts and everything they need (ECharts inlined once, guarded so it
// is evaluated once per page), for a notebook cell: gonbui.DisplayHTML(charts.Snippet(c)). It renders in a
// saved notebook opened offline, as each fragment carries the library (~1 MB).
func Snippet(cs ...*gocharts.Line) (string, error) {
	var b bytes.Buffer
	b.WriteString(`<div class="stylelab-charts">`)
	for _, c := range cs {
		e, err := Element(c)
		if err != nil {
			return "", err
		}
		b.WriteString(string(e))
		b.WriteByte('\n')
	}
	b.WriteString(string(Scripts(true)))
	// Mount within this fragment even when the notebook has not attached it to the document yet.
	b.WriteString("\n<script>window.stylelabCharts && window.stylelabCharts.scan(document.currentScript.parentNode);</script></div>")
	return b.String(), nil
}
