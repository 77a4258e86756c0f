// Package dashboard is stylelab's read-only local web dashboard over a tracker store: a runs table (filter,
// sort, status, a thumbnail of each run's output, group-by with count and best metric), a run page (images
// first, then charts, params, tags, provenance), a compare page (output images side by side, overlaid curves
// per metric, a param diff table), a sweep view (parallel coordinates of the swept params against a final
// metric, a param/metric scatter) and a JSON API under /api/ for the same.
//
// Routes (GET and HEAD only; any other method gets 405):
//
//	/                                 runs table: ?filter= (the store's filter syntax) &order= &limit=, a
//	                                  thumbnail per run; &group=experiment|sweep|params.KEY &metric=KEY &best=min|max
//	/runs/{id}                        one run (id or unique prefix): images first, then metrics, params, provenance
//	/sweeps/{id}                      the runs tagged sweep.id=ID: parallel coordinates and a param/metric scatter
//	/thumbs/{sha256}                  a ThumbSize PNG of an image artifact (hash-verified, cached, immutable)
//	/compare?ids=a,b,c                runs compared (also ?id=a&id=b, as the runs table's form sends)
//	/artifacts/{sha256}               an artifact file, only by a 64-hex SHA-256 the store resolves
//	/assets/echarts.min.js            embedded Apache ECharts; also stylelab-charts.js, dashboard.css,
//	/assets/LICENSE, /assets/NOTICE   ECharts' licence and notice (also LICENSE-d3, LICENSE-zrender)
//	/api/runs?filter=&order=&limit=   runs as JSON
//	/api/runs/{id}                    one run, its metric keys and artifacts
//	/api/runs/{id}/metrics/{key}      a metric's history (?max=N downsamples)
//	/api/compare?ids=a,b              runs, param diff and downsampled histories
//	/api/sweeps/{id}?metric=KEY       a sweep's runs, swept params and latest metrics (Sweep)
//
// The API writes runs as tracker.RunInfo does (lower-case keys, RFC 3339 times) and metric values as
// tracker.Value: numbers, or the strings "NaN", "Infinity", "-Infinity".
//
// Files: routes.go (every route and page template, in one place), pages.go (templates, layout, run view,
// formatters), page_runs.go, page_run.go, page_compare.go (one file per page), compare.go (the comparison
// model), sweep.go (sweep view and model), groups.go (group-by), thumbs.go (thumbnails), cache.go
// (metric-history cache), api.go (JSON API).
//
// Security: pages carry no inline script (charts travel as JSON read by /assets/stylelab-charts.js), so the
// Content-Security-Policy allows scripts from 'self' only. Paths holding "..", "//", a backslash or a NUL,
// decoded or percent-encoded, are refused with 400 before routing (Go's mux would otherwise answer 301 to a
// cleaned path). Artifacts are served with nosniff; only images and plain text are shown inline, anything
// else is a download. When the server listens on a loopback address, requests whose Host is not a loopback
// name or IP are refused (421), which defeats DNS-rebinding attacks from web pages.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/assets"
	"github.com/stylelab/stylelab/tracker/charts"
)

// Store is what the dashboard reads; *tracker.Store implements it.
type Store interface {
	charts.Reader
	Search(filter, orderBy string, limit int) ([]tracker.RunInfo, error)
	Artifacts(runID string) ([]tracker.Artifact, error)
	ArtifactPath(sha256 string) (string, error)
}

// Options tune the dashboard; the zero value is usable.
type Options struct {
	// MaxPoints is the number of points a curve is downsampled to on pages (default charts.DefaultMaxPoints;
	// negative keeps every point).
	MaxPoints int
	// Limit is the default number of rows of the runs table and /api/runs (default 500).
	Limit int
	// Source names the database in the page header (e.g. its path).
	Source string
	// CachePoints bounds the in-memory cache of ended runs' metric histories (whole, and sampled as the
	// charts draw them), in points (default DefaultCachePoints, about 40 bytes each); negative disables it.
	CachePoints int
	// LoopbackOnly refuses requests whose Host header is not localhost or an IP address (DNS-rebinding
	// defence); cmd/stylelab sets it when the listening address is a loopback one.
	LoopbackOnly bool
}

// Server is the dashboard's http.Handler.
type Server struct {
	st  Store // raw with the history cache
	raw Store // as given to New
	o   Options
	mux *http.ServeMux
	// thumbs caches the runs table's thumbnails by artifact SHA-256.
	thumbs *thumbCache
	// thumbSem holds one token per thumbnail being made (thumbSlots at most, see thumbWork).
	thumbSem chan struct{}
}

// New returns the dashboard handler over st.
func New(st Store, o Options) *Server {
	if o.MaxPoints == 0 {
		o.MaxPoints = charts.DefaultMaxPoints
	}
	if o.Limit <= 0 {
		o.Limit = 500
	}
	if o.CachePoints == 0 {
		o.CachePoints = DefaultCachePoints
	}
	s := &Server{st: newCachedStore(st, o.CachePoints), raw: st, o: o, mux: http.NewServeMux(),
		thumbs: &thumbCache{maxBytes: maxThumbCacheBytes}, thumbSem: make(chan struct{}, thumbSlots)}
	s.routes()
	return s
}

// ServeHTTP checks method, Host and path, sets the security headers and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Content-Security-Policy", pageCSP)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		httpError(w, r, http.StatusMethodNotAllowed, "the dashboard is read-only: %s is not allowed, use GET", r.Method)
		return
	}
	if s.o.LoopbackOnly && !loopbackHost(r.Host) {
		httpError(w, r, http.StatusMisdirectedRequest, "host %q refused: this dashboard only answers to localhost or an IP address", r.Host)
		return
	}
	if bad := badPath(r); bad != "" {
		httpError(w, r, http.StatusBadRequest, "refused path %q: %s", r.URL.EscapedPath(), bad)
		return
	}
	// r.URL.Query() drops what it cannot decode: ?filter=% would silently mean "no filter".
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		msg := fmt.Sprintf("malformed query string (%v): percent-encode a literal %% as %%25 (e.g. filter=name%%20like%%20'run-%%25')", err)
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeJSONError(w, r, http.StatusBadRequest, msg)
		} else {
			httpError(w, r, http.StatusBadRequest, "%s", msg)
		}
		return
	}
	s.mux.ServeHTTP(w, r)
}

// pageCSP allows only this server's scripts (no inline script is ever emitted), inline style attributes
// (ECharts positions its tooltip with them), images from here or data: URIs, and nothing else.
const pageCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// badPath says why a request path is refused ("" when it is acceptable): any ".." segment, empty segment,
// backslash or NUL in the decoded or the escaped path, or a percent-encoded dot, slash, backslash or NUL
// (no legitimate URL of the dashboard needs one: a metric key's slashes go unencoded into {key...}).
func badPath(r *http.Request) string {
	dec, esc := r.URL.Path, r.URL.EscapedPath()
	if !strings.HasPrefix(dec, "/") {
		return "the path must be absolute"
	}
	for _, p := range []string{dec, esc} {
		if strings.ContainsAny(p, "\\\x00") {
			return "backslash or NUL in the path"
		}
		if strings.Contains(p, "//") {
			return "empty path segment (an absolute path inside the URL?)"
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == ".." || seg == "." {
				return "dot segments (path traversal) are not allowed"
			}
		}
	}
	low := strings.ToLower(esc)
	for _, enc := range []string{"%2e", "%2f", "%5c", "%00"} {
		if strings.Contains(low, enc) {
			return "percent-encoded dot, slash, backslash or NUL (send metric keys with their slashes unencoded)"
		}
	}
	return ""
}

// loopbackHost reports whether a Host header names this machine in a way a DNS-rebinding page cannot forge:
// "localhost" (or a subdomain of .localhost) or an IP literal.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	return net.ParseIP(host) != nil
}

// httpError writes a small plain-text error.
func httpError(w http.ResponseWriter, r *http.Request, code int, format string, args ...any) {
	http.Error(w, fmt.Sprintf(format, args...), code)
}

// static files served under /assets/.
type staticFile struct {
	data        []byte
	contentType string
	etag        string
}

var staticFiles = map[string]staticFile{}

func addStatic(name, contentType string, data []byte) {
	sum := sha256.Sum256(data)
	staticFiles[name] = staticFile{data, contentType, `"` + hex.EncodeToString(sum[:8]) + `"`}
}

func init() {
	addStatic(charts.EchartsFile, "text/javascript; charset=utf-8", assets.EchartsJS)
	addStatic(charts.InitFile, "text/javascript; charset=utf-8", charts.InitJS)
	addStatic("dashboard.css", "text/css; charset=utf-8", dashboardCSS)
	addStatic("sweep.js", "text/javascript; charset=utf-8", sweepJS)
	addStatic("imgcompare.js", "text/javascript; charset=utf-8", imgcompareJS)
	addStatic("timeline.js", "text/javascript; charset=utf-8", timelineJS)
	addStatic("LICENSE", "text/plain; charset=utf-8", assets.License)
	addStatic("LICENSE-d3", "text/plain; charset=utf-8", assets.LicenseD3)
	addStatic("LICENSE-zrender", "text/plain; charset=utf-8", assets.LicenseZrender)
	addStatic("NOTICE", "text/plain; charset=utf-8", assets.Notice)
}

var startTime = time.Now()

func (s *Server) asset(w http.ResponseWriter, r *http.Request) {
	f, ok := staticFiles[r.PathValue("name")]
	if !ok {
		httpError(w, r, http.StatusNotFound, "no asset %q", r.PathValue("name"))
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeContent(w, r, "", startTime, bytes.NewReader(f.data))
}
