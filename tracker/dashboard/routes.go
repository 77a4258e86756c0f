package dashboard

import "net/http"

// Routes and page templates, in one place. A new page is a file with its handler and a template
// templates/NAME.html defining "content"; it is added here: its name to pageTemplates, its route to routes.

// pageTemplates are the pages rendered inside templates/layout.html (render(w, r, code, name, view)).
var pageTemplates = []string{"runs", "run", "compare", "sweep"}

// routes registers every handler on the server's mux (GET and HEAD only: ServeHTTP refuses the rest).
func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /{$}", s.runsPage)
	m.HandleFunc("GET /runs/{id}", s.runPage)
	m.HandleFunc("GET /compare", s.comparePage)
	m.HandleFunc("GET /artifacts/{sha}", s.artifact)
	m.HandleFunc("GET /thumbs/{sha}", s.thumb)
	m.HandleFunc("GET /sweeps/{id}", s.sweepPage)
	m.HandleFunc("GET /studies/{id}", s.studyPage)
	m.HandleFunc("GET /assets/{name}", s.asset)
	m.HandleFunc("GET /api/runs", s.apiRuns)
	m.HandleFunc("GET /api/runs/{id}", s.apiRun)
	m.HandleFunc("GET /api/runs/{id}/metrics/{key...}", s.apiMetric)
	m.HandleFunc("GET /api/compare", s.apiCompare)
	m.HandleFunc("GET /api/sweeps/{id}", s.apiSweep)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpError(w, r, http.StatusNotFound, "no page at %s: see / for the runs table or /api/runs for the API", r.URL.Path)
	})
}
