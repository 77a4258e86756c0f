package dashboard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/stylelab/stylelab/tracker"
	"github.com/stylelab/stylelab/tracker/charts"
	"github.com/stylelab/stylelab/tracker/filter"
)

// lookupStatus maps a store error to an HTTP status: 404 for an unknown run or artifact, 400 for an
// ambiguous id prefix, a bad comparison or sweep request, or a filter the request made malformed, 500
// otherwise.
func lookupStatus(err error) int {
	var fe *filter.Error
	switch {
	case errors.Is(err, tracker.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, tracker.ErrAmbiguous), errors.Is(err, ErrBadCompare), errors.As(err, &fe):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// searchStatus maps a Search error to 400 when the filter or order-by is malformed, 500 otherwise.
func searchStatus(err error) int {
	var fe *filter.Error
	if errors.As(err, &fe) {
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

// ---- artifacts ----

// isSHA256 reports whether s is 64 lowercase hex digits.
func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// artifact serves one file of the artifact store by its SHA-256. The path comes only from the store
// (ArtifactPath), is checked to be a regular file inside the store's folder after resolving symlinks, and
// the response type comes from the bytes: images and plain text inline, anything else as a download, with
// a sandboxing CSP so that even a mislabelled HTML file cannot run script in the dashboard's origin.
func (s *Server) artifact(w http.ResponseWriter, r *http.Request) {
	sha := r.PathValue("sha")
	if !isSHA256(sha) {
		httpError(w, r, http.StatusBadRequest, "artifacts are addressed by their SHA-256: 64 lowercase hex digits (got %q)", sha)
		return
	}
	path, err := s.st.ArtifactPath(sha)
	if err != nil {
		code := lookupStatus(err)
		if code == http.StatusInternalServerError {
			code = http.StatusNotFound
		}
		httpError(w, r, code, "no artifact %s: %v", sha, err)
		return
	}
	if !s.insideStore(path) {
		httpError(w, r, http.StatusForbidden, "artifact %s resolves outside the artifact store", sha)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		httpError(w, r, http.StatusNotFound, "artifact %s is recorded but its file cannot be read: %v", sha, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		httpError(w, r, http.StatusNotFound, "artifact %s is not a regular file", sha)
		return
	}
	// The bytes are checked against the name before anything is sent: the response is cached as immutable
	// under that name. Blobs up to maxVerifiedInMemory are served from the very bytes hashed; larger ones
	// are hashed streaming and then served from the same open file.
	var content io.ReadSeeker = f
	h := sha256.New()
	if fi.Size() <= maxVerifiedInMemory {
		data, err := io.ReadAll(io.LimitReader(f, maxVerifiedInMemory+1))
		if err != nil {
			httpError(w, r, http.StatusInternalServerError, "reading artifact %s: %v", sha, err)
			return
		}
		h.Write(data)
		content = bytes.NewReader(data)
	} else if _, err := io.Copy(h, f); err != nil {
		httpError(w, r, http.StatusInternalServerError, "reading artifact %s: %v", sha, err)
		return
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		httpError(w, r, http.StatusInternalServerError, "reading artifact %s: %v", sha, err)
		return
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha {
		httpError(w, r, http.StatusInternalServerError, "artifact %s is damaged: its file now hashes to %s (it was modified after it was stored); log the correct bytes again or restore it from a backup ('stylelab runs check' lists every such file)", sha, got)
		return
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(content, head)
	if _, err := content.Seek(0, io.SeekStart); err != nil {
		httpError(w, r, http.StatusInternalServerError, "reading artifact %s: %v", sha, err)
		return
	}
	mt := http.DetectContentType(head[:n])
	h2 := w.Header()
	h2.Set("Content-Security-Policy", "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox")
	switch {
	case isImage(mt):
		h2.Set("Content-Type", mt)
	case strings.HasPrefix(mt, "text/plain"):
		h2.Set("Content-Type", "text/plain; charset=utf-8")
	default:
		h2.Set("Content-Type", "application/octet-stream")
		h2.Set("Content-Disposition", `attachment; filename="`+sha[:16]+`"`)
	}
	h2.Set("Cache-Control", "private, max-age=31536000, immutable") // content-addressed, and checked above
	h2.Set("ETag", `"`+sha+`"`)
	http.ServeContent(w, r, "", fi.ModTime(), content)
}

// maxVerifiedInMemory is the largest artifact the dashboard reads whole to check and serve the same bytes.
const maxVerifiedInMemory = 32 << 20

// insideStore reports whether path, with symlinks resolved, lies inside the store's folder (Store.Dir when
// the store has one, which *tracker.Store does).
func (s *Server) insideStore(path string) bool {
	d, ok := s.raw.(interface{ Dir() string })
	if !ok {
		return true
	}
	root, err := filepath.EvalSymlinks(d.Dir())
	if err != nil {
		return false
	}
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		return false
	}
	rel, err := filepath.Rel(root, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// ---- JSON API ----

// APIHistory is one metric of one run, column-wise: Steps[i], Values[i] and Times[i] (Unix milliseconds).
// Values are numbers, or the strings "NaN", "Infinity", "-Infinity" (tracker.Value, as everywhere in
// stylelab's JSON). Count is the number of points stored, before any downsampling.
type APIHistory struct {
	Run    string          `json:"run"`
	Key    string          `json:"key"`
	Count  int             `json:"count"`
	Steps  []int64         `json:"steps"`
	Values []tracker.Value `json:"values"`
	Times  []int64         `json:"times,omitempty"`
}

func apiHistory(run, key string, count int, pts []tracker.Point, times bool) APIHistory {
	h := APIHistory{Run: run, Key: key, Count: count, Steps: make([]int64, len(pts)), Values: make([]tracker.Value, len(pts))}
	if times {
		h.Times = make([]int64, len(pts))
	}
	for i, p := range pts {
		h.Steps[i], h.Values[i] = p.Step, tracker.Value(p.Value)
		if times {
			h.Times[i] = p.Time.UnixMilli()
		}
	}
	return h
}

func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		writeJSONError(w, r, http.StatusInternalServerError, "encoding the response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

func writeJSONError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	b, _ := json.Marshal(map[string]string{"error": msg})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		w.Write(append(b, '\n'))
	}
}

// intParam reads a non-negative integer query parameter (def when absent).
func intParam(r *http.Request, name string, def int) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, errors.New(name + " must be a non-negative integer (got " + strconv.Quote(s) + ")")
	}
	return n, nil
}

// limitParam reads ?limit= the same way for the runs page and /api/runs: a positive integer, def when absent.
func limitParam(r *http.Request, def int) (int, error) {
	l := r.URL.Query().Get("limit")
	if l == "" {
		return def, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("limit must be a positive integer (got %q): narrow the list with a filter instead", l)
	}
	return n, nil
}

// GET /api/runs?filter=&order=&limit= → {"runs": [run…]}, each run as tracker.RunInfo writes itself.
func (s *Server) apiRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, err := limitParam(r, s.o.Limit)
	if err != nil {
		writeJSONError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	order := q.Get("order")
	if order == "" {
		order = "start_time DESC"
	}
	found, err := s.st.Search(q.Get("filter"), order, limit)
	if err != nil {
		writeJSONError(w, r, searchStatus(err), err.Error())
		return
	}
	out := struct {
		Runs []tracker.RunInfo `json:"runs"`
	}{Runs: found}
	if out.Runs == nil {
		out.Runs = []tracker.RunInfo{}
	}
	writeJSON(w, r, http.StatusOK, out)
}

// APIArtifact is an artifact in the JSON API; URL is where the dashboard serves it.
type APIArtifact struct {
	Name      string `json:"name"`
	MediaType string `json:"media_type"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	URL       string `json:"url"`
}

// GET /api/runs/{id} → {"run": tracker.RunInfo, "metrics": [key…], "artifacts": [APIArtifact…]}
func (s *Server) apiRun(w http.ResponseWriter, r *http.Request) {
	ri, err := s.st.GetRun(r.PathValue("id"))
	if err != nil {
		writeJSONError(w, r, lookupStatus(err), err.Error())
		return
	}
	keys, err := s.st.MetricKeys(ri.ID)
	if err != nil {
		writeJSONError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	arts, err := s.st.Artifacts(ri.ID)
	if err != nil {
		writeJSONError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	out := struct {
		Run       *tracker.RunInfo `json:"run"`
		Metrics   []string         `json:"metrics"`
		Artifacts []APIArtifact    `json:"artifacts"`
	}{Run: ri, Metrics: append([]string{}, keys...), Artifacts: []APIArtifact{}}
	for _, a := range arts {
		out.Artifacts = append(out.Artifacts, APIArtifact{a.Name, a.MediaType, a.SHA256, a.Size, "/artifacts/" + a.SHA256})
	}
	writeJSON(w, r, http.StatusOK, out)
}

// GET /api/runs/{id}/metrics/{key}?max=N → APIHistory (every point unless max > 0)
func (s *Server) apiMetric(w http.ResponseWriter, r *http.Request) {
	max, err := intParam(r, "max", 0)
	if err != nil {
		writeJSONError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ri, err := s.st.GetRun(r.PathValue("id"))
	if err != nil {
		writeJSONError(w, r, lookupStatus(err), err.Error())
		return
	}
	key := r.PathValue("key")
	keys, err := s.st.MetricKeys(ri.ID)
	if err != nil {
		writeJSONError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	known := false
	for _, k := range keys {
		known = known || k == key
	}
	if !known {
		writeJSONError(w, r, http.StatusNotFound, "run "+charts.ShortID(ri.ID)+" has no metric "+strconv.Quote(key)+"; it has: "+strings.Join(keys, ", "))
		return
	}
	var pts []tracker.Point
	n := 0
	if max > 0 {
		var m map[string][]tracker.Point
		if m, err = charts.SampleHistories(s.st, []string{ri.ID}, key, max); err == nil {
			pts = m[ri.ID]
			n, err = s.pointCount(ri.ID, key, pts, max)
		}
	} else {
		pts, err = s.st.History(ri.ID, key)
		n = len(pts)
	}
	if err != nil {
		writeJSONError(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, r, http.StatusOK, apiHistory(ri.ID, key, n, pts, true))
}

// pointCount is the number of points stored for a series of which pts were read with at most max
// points (max <= 0: every point): len(pts) when nothing was dropped, else the store's count.
func (s *Server) pointCount(run, key string, pts []tracker.Point, max int) (int, error) {
	if max <= 0 || len(pts) == 0 {
		return len(pts), nil
	}
	pc, ok := s.st.(pointCounter)
	if !ok {
		full, err := s.st.History(run, key)
		return len(full), err
	}
	n, err := pc.PointCount(run, key)
	return int(n), err
}

// APIParam is one param across compared runs: Values[i] is null when run i lacks it.
type APIParam struct {
	Key    string    `json:"key"`
	Values []*string `json:"values"`
	Differ bool      `json:"differ"`
}

// GET /api/compare?ids=a,b&max=N → {"runs", "params", "metrics": {key: [APIHistory…]}, "images"}; curves are
// downsampled together per metric to max points (default the dashboard's MaxPoints; 0 keeps all).
func (s *Server) apiCompare(w http.ResponseWriter, r *http.Request) {
	max, err := intParam(r, "max", s.o.MaxPoints)
	if err != nil {
		writeJSONError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ids := compareIDs(r.URL.Query())
	if len(ids) == 0 {
		writeJSONError(w, r, http.StatusBadRequest, "give the runs to compare: /api/compare?ids=ID,ID")
		return
	}
	c, err := CompareSampled(s.st, ids, max)
	if err != nil {
		writeJSONError(w, r, lookupStatus(err), err.Error())
		return
	}
	type image struct {
		Name      string         `json:"name"`
		Artifacts []*APIArtifact `json:"artifacts"` // one per run, null where the run has none
	}
	out := struct {
		Runs    []*tracker.RunInfo      `json:"runs"`
		Params  []APIParam              `json:"params"`
		Keys    []string                `json:"metric_keys"`
		Metrics map[string][]APIHistory `json:"metrics"`
		Images  []image                 `json:"images"`
	}{Runs: c.Runs, Params: []APIParam{}, Keys: append([]string{}, c.Keys...), Metrics: map[string][]APIHistory{}, Images: []image{}}
	for _, p := range c.Params {
		ap := APIParam{Key: p.Key, Differ: p.Differ}
		for i := range p.Values {
			if p.Present[i] {
				v := p.Values[i]
				ap.Values = append(ap.Values, &v)
			} else {
				ap.Values = append(ap.Values, nil)
			}
		}
		out.Params = append(out.Params, ap)
	}
	for _, k := range c.Keys {
		for _, sr := range c.Series[k] {
			n, err := s.pointCount(sr.Run, k, sr.Points, max)
			if err != nil {
				writeJSONError(w, r, http.StatusInternalServerError, err.Error())
				return
			}
			out.Metrics[k] = append(out.Metrics[k], apiHistory(sr.Run, k, n, sr.Points, false))
		}
	}
	for _, row := range c.Images {
		im := image{Name: row.Name}
		for _, a := range row.Artifacts {
			if a == nil {
				im.Artifacts = append(im.Artifacts, nil)
				continue
			}
			im.Artifacts = append(im.Artifacts, &APIArtifact{a.Name, a.MediaType, a.SHA256, a.Size, "/artifacts/" + a.SHA256})
		}
		out.Images = append(out.Images, im)
	}
	writeJSON(w, r, http.StatusOK, out)
}
