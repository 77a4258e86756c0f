package lab

import (
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/stylelab/stylelab/kernel/nbui"
	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
)

// DashboardUp reports whether a stylelab dashboard answers at the check address: $STYLELAB_DASHBOARD_CHECK_URL
// (docker-compose sets it to the dashboard service), else nbui.DashboardURL(). It waits at most one second.
func DashboardUp() bool {
	u := os.Getenv("STYLELAB_DASHBOARD_CHECK_URL")
	if u == "" {
		u = nbui.DashboardURL()
	}
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(strings.TrimRight(u, "/") + "/api/runs?limit=1")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// CompareURL is the dashboard's compare page for the runs.
func CompareURL(ids []string) string {
	return nbui.DashboardURL() + "/compare?ids=" + url.QueryEscape(strings.Join(ids, ","))
}

var dashboardTpl = template.Must(template.New("dash").Parse(
	`<div class="stylelab-dashboard" style="font-size:13px">` +
		`{{if .Up}}<div>Dashboard running at <a href="{{.Base}}" target="_blank">{{.Base}}</a>.</div>` +
		`{{else}}<div>No dashboard answers at {{.Base}}. Start it in a terminal (it only reads the database):<br>` +
		`<code>stylelab serve --db {{.DB}}</code> &nbsp; (or <code>docker compose up dashboard</code>)</div>{{end}}` +
		`<ul><li><a href="{{.Base}}/" target="_blank">all runs</a></li>` +
		`{{if .Compare}}<li><a href="{{.Compare}}" target="_blank">these {{.N}} runs compared</a></li>{{end}}` +
		`{{range .Runs}}<li><a href="{{.URL}}" target="_blank">{{.Label}}</a></li>{{end}}</ul></div>`))

// Dashboard shows where the dashboard is (or the command that starts it on this store) and links to its pages
// for runs: the runs table, the compare page and each run's page.
func Dashboard(s *tracker.Store, runs []tracker.RunInfo) {
	type link struct{ URL, Label string }
	v := struct {
		Up                bool
		Base, DB, Compare string
		N                 int
		Runs              []link
	}{Up: DashboardUp(), Base: nbui.DashboardURL(), DB: s.Path(), N: len(runs)}
	if len(runs) > 1 {
		v.Compare = CompareURL(IDs(runs))
	}
	var text strings.Builder
	if v.Up {
		fmt.Fprintf(&text, "dashboard running at %s\n", v.Base)
	} else {
		fmt.Fprintf(&text, "no dashboard at %s; start it with: stylelab serve --db %s\n", v.Base, v.DB)
	}
	if v.Compare != "" {
		fmt.Fprintf(&text, "compare: %s\n", v.Compare)
	}
	for _, r := range runs {
		l := link{nbui.RunURL(r.ID), r.Name + " · " + charts.ShortID(r.ID)}
		v.Runs = append(v.Runs, l)
		fmt.Fprintf(&text, "%s: %s\n", l.Label, l.URL)
	}
	var b strings.Builder
	if err := dashboardTpl.Execute(&b, v); err != nil {
		panic(err)
	}
	nbui.HTML(b.String(), text.String())
}
