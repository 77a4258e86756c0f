package dashboard

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/tracker"
)

// rawGet sends a request line exactly as written (no client-side cleaning or escaping) and returns the
// status code and body.
func rawGet(t *testing.T, addr, method, target, host string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", method, target, host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTraversalRefused(t *testing.T) {
	path, ids := fillStore(t, threeRuns())
	st, srv := openServer(t, path, Options{})
	arts, err := st.Artifacts(ids[0])
	if err != nil || len(arts) == 0 {
		t.Fatalf("fixture has no artifacts: %v", err)
	}
	good := arts[0].SHA256
	addr := strings.TrimPrefix(srv.URL, "http://")

	// Sanity: the legitimate URL works, so the refusals below are not an artifact of a broken route.
	if code, _ := rawGet(t, addr, "GET", "/artifacts/"+good, "127.0.0.1"); code != 200 {
		t.Fatalf("GET /artifacts/%s = %d, want 200", good, code)
	}
	attempts := []string{
		"/artifacts/../../../../etc/passwd",
		"/artifacts/..%2f..%2f..%2f..%2fetc%2fpasswd",
		"/artifacts/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
		"/artifacts/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
		"/artifacts/%252e%252e%252f%252e%252e%252fetc%252fpasswd", // double-encoded
		"/artifacts/..%5c..%5c..%5cetc%5cpasswd",
		"/artifacts/..\\..\\etc\\passwd",
		"/artifacts//etc/passwd",
		"/artifacts/%2fetc%2fpasswd",
		"/artifacts/" + url.PathEscape("/etc/passwd"),
		"/artifacts/" + good + "/../../../etc/passwd",
		"/artifacts/" + good + "%00",
		"/artifacts/" + strings.ToUpper(good),
		"/artifacts/" + good[:63],
		"/artifacts/" + strings.Repeat("0", 64), // well-formed but unknown
		"/artifacts/./" + good,
		"/assets/../../../../etc/passwd",
		"/assets/%2e%2e%2fdashboard.go",
		"/runs/..%2f..%2fetc%2fpasswd",
		"/api/runs/" + ids[0] + "/metrics/../../../../etc/passwd",
		"/api/runs/" + ids[0] + "/metrics/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
		"//etc/passwd",
		"/../etc/passwd",
	}
	for _, a := range attempts {
		code, body := rawGet(t, addr, "GET", a, "127.0.0.1")
		if code < 400 || code > 499 {
			t.Errorf("GET %s = %d, want 4xx", a, code)
		}
		if strings.Contains(body, "root:") {
			t.Errorf("GET %s leaked /etc/passwd", a)
		}
	}

	// A blob replaced by a symlink that leaves the store is not followed.
	blob, err := st.ArtifactPath(good)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(blob); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", blob); err != nil {
		t.Fatal(err)
	}
	if code, body := rawGet(t, addr, "GET", "/artifacts/"+good, "127.0.0.1"); code != http.StatusForbidden || strings.Contains(body, "root:") {
		t.Errorf("symlinked blob: %d, want 403 without the file", code)
	}
}

func TestArtifactsServedSafely(t *testing.T) {
	runs := threeRuns()
	html := []byte("<!DOCTYPE html><html><script>alert(document.cookie)</script></html>")
	runs[0].files["evil.html"] = html
	path, ids := fillStore(t, runs)
	st, srv := openServer(t, path, Options{})
	arts, _ := st.Artifacts(ids[0])
	byName := map[string]tracker.Artifact{}
	for _, a := range arts {
		byName[a.Name] = a
	}
	resp, body := get(t, srv, "/artifacts/"+byName["output.png"].SHA256)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" || !bytes.Equal([]byte(body), tinyPNG(t, runs[0].images["output.png"])) {
		t.Errorf("output.png: %d %s (%d bytes)", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	sum := sha256.Sum256([]byte(body))
	if hex.EncodeToString(sum[:]) != byName["output.png"].SHA256 {
		t.Error("served bytes do not hash to the artifact's SHA-256")
	}
	resp, _ = get(t, srv, "/artifacts/"+byName["evil.html"].SHA256)
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("an HTML artifact must be a download, got %q %q", ct, resp.Header.Get("Content-Disposition"))
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Error("artifacts must be served with a sandboxing CSP")
	}
	resp, _ = get(t, srv, "/artifacts/"+byName["config.json"].SHA256)
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("config.json served as %q, want text/plain", ct)
	}
}

func TestReadOnlyMethodsAndHeaders(t *testing.T) {
	path, ids := fillStore(t, threeRuns())
	_, srv := openServer(t, path, Options{})
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS"} {
		for _, p := range []string{"/", "/api/runs", "/runs/" + ids[0], "/artifacts/" + strings.Repeat("a", 64)} {
			if code, _ := rawGet(t, addr, m, p, "127.0.0.1"); code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", m, p, code)
			}
		}
	}
	code, body := rawGet(t, addr, "HEAD", "/", "127.0.0.1")
	if code != 200 || body != "" {
		t.Errorf("HEAD / = %d with %d body bytes", code, len(body))
	}
	resp, page := get(t, srv, "/compare?ids="+strings.Join(ids, ","))
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(strings.SplitN(strings.SplitN(csp, "script-src", 2)[1], ";", 2)[0], "unsafe") {
		t.Errorf("script-src must be 'self' only: %s", csp)
	}
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing header %s", h)
		}
	}
	// No executable inline script: every <script> either has src= or is a JSON data block.
	for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, "src=") && !strings.Contains(tag, `type="application/json"`) {
			t.Errorf("inline script on the compare page: %s", tag)
		}
	}
	if strings.Contains(page, "cdn") || strings.Contains(page, "https://") {
		t.Error("the page refers to an outside host")
	}
}

func TestLoopbackHostOnly(t *testing.T) {
	path, _ := fillStore(t, threeRuns()[:1])
	_, srv := openServer(t, path, Options{LoopbackOnly: true})
	addr := strings.TrimPrefix(srv.URL, "http://")
	for host, want := range map[string]int{"127.0.0.1:8080": 200, "localhost:8080": 200, "[::1]:8080": 200, "localhost": 200,
		"evil.example:8080": 421, "attacker.com": 421, "127.0.0.1.nip.io": 421} {
		if code, _ := rawGet(t, addr, "GET", "/", host); code != want {
			t.Errorf("Host %s: %d, want %d", host, code, want)
		}
	}
}

func TestRunsPage(t *testing.T) {
	path, ids := fillStore(t, threeRuns())
	_, srv := openServer(t, path, Options{})
	resp, body := get(t, srv, "/")
	if resp.StatusCode != 200 {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	for _, want := range []string{"gram-lr1", "gram-lr2", "mmd-lr2", `class="badge FINISHED"`, `class="badge FAILED"`,
		`name="id" value="` + ids[0] + `"`, `action="/compare"`, "order=metrics.%60total%60%20ASC"} {
		if !strings.Contains(body, want) {
			t.Errorf("runs page lacks %q", want)
		}
	}
	// The filter box uses the store's filter syntax.
	_, body = get(t, srv, "/?filter="+url.QueryEscape("params.loss = 'mmd-poly'"))
	if !strings.Contains(body, "mmd-lr2") || strings.Contains(body, "gram-lr1") {
		t.Error("filter params.loss = 'mmd-poly' did not select only mmd-lr2")
	}
	// Sorting by a metric: gram-lr1 has the smallest latest total (1e4/40).
	_, body = get(t, srv, "/?order="+url.QueryEscape("metrics.`total` ASC"))
	if i, j := strings.Index(body, "gram-lr1"), strings.Index(body, "gram-lr2"); i < 0 || j < 0 || i > j {
		t.Error("order metrics.total ASC did not put gram-lr1 before gram-lr2")
	}
	resp, body = get(t, srv, "/?filter="+url.QueryEscape("params.lr = "))
	if resp.StatusCode != 400 || !strings.Contains(body, "filter") {
		t.Errorf("a malformed filter must give 400 with the parser's message, got %d", resp.StatusCode)
	}
}

func TestRunPage(t *testing.T) {
	path, ids := fillStore(t, threeRuns())
	st, srv := openServer(t, path, Options{})
	resp, body := get(t, srv, "/runs/"+ids[0][:8])
	if resp.StatusCode != 200 {
		t.Fatalf("GET /runs/prefix = %d", resp.StatusCode)
	}
	arts, _ := st.Artifacts(ids[0])
	for _, want := range []string{"gram-lr1", ids[0], "baseline", "git.commit", "abc123", `id="run-loss"`,
		`data-stylelab-chart="run-loss"`, `src="/assets/echarts.min.js"`, "config.json"} {
		if !strings.Contains(body, want) {
			t.Errorf("run page lacks %q", want)
		}
	}
	for _, a := range arts {
		if a.Name == "output.png" && !strings.Contains(body, `<img src="/artifacts/`+a.SHA256+`"`) {
			t.Error("run page does not show output.png")
		}
	}
	if resp, _ := get(t, srv, "/runs/ffffffff"); resp.StatusCode != 404 {
		t.Errorf("unknown run: %d, want 404", resp.StatusCode)
	}
	_, body = get(t, srv, "/runs/"+ids[2])
	if !strings.Contains(body, "diverged: loss is NaN") {
		t.Error("a failed run's page must show its error")
	}
}

func TestComparePage(t *testing.T) {
	path, ids := fillStore(t, threeRuns())
	st, srv := openServer(t, path, Options{})
	resp, body := get(t, srv, "/compare?ids="+strings.Join(ids, ","))
	if resp.StatusCode != 200 {
		t.Fatalf("compare: %d %s", resp.StatusCode, body)
	}
	// Param diff: lr and loss differ; steps and size do not.
	rows := regexp.MustCompile(`<tr( class="differ")?><td class="mono">([^<]+)</td>`).FindAllStringSubmatch(body, -1)
	differ := map[string]bool{}
	for _, r := range rows {
		differ[r[2]] = r[1] != ""
	}
	want := map[string]bool{"loss": true, "lr": true, "size": false, "steps": false}
	for k, d := range want {
		if got, ok := differ[k]; !ok || got != d {
			t.Errorf("param %s: differ=%v (present %v), want %v", k, got, ok, d)
		}
	}
	if !strings.Contains(body, "2 of 4 differ") {
		t.Error("compare page must count the differing params")
	}
	// One chart per metric key: style, total (first run, sorted), content (third).
	for i, k := range []string{"style", "total", "content"} {
		if !strings.Contains(body, fmt.Sprintf(`data-stylelab-chart="metric-%d"`, i)) {
			t.Errorf("no chart %d (%s)", i, k)
		}
	}
	// Output images side by side, in run order.
	var srcs []string
	for _, id := range ids {
		arts, _ := st.Artifacts(id)
		for _, a := range arts {
			if a.Name == "output.png" {
				srcs = append(srcs, "/artifacts/"+a.SHA256)
			}
		}
	}
	last := -1
	for _, s := range srcs {
		i := strings.Index(body, `<img src="`+s+`"`)
		if i < 0 || i < last {
			t.Errorf("image %s missing or out of run order", s)
		}
		last = i
	}
	// The form on the runs table sends ?id=a&id=b: accepted too.
	if resp, _ := get(t, srv, "/compare?id="+ids[0]+"&id="+ids[1]); resp.StatusCode != 200 {
		t.Errorf("compare with id=&id=: %d", resp.StatusCode)
	}
	for q, code := range map[string]int{"": 400, "?ids=": 400, "?ids=ffffffff": 404, "?ids=" + ids[0] + ",nope": 404} {
		if resp, _ := get(t, srv, "/compare"+q); resp.StatusCode != code {
			t.Errorf("/compare%s = %d, want %d", q, resp.StatusCode, code)
		}
	}
}

func TestAPI(t *testing.T) {
	runs := threeRuns()
	runs[0].metrics["style/relu1_1"] = decay(3)
	path, ids := fillStore(t, runs)
	_, srv := openServer(t, path, Options{})

	var list struct {
		Runs []tracker.RunInfo `json:"runs"`
	}
	decodeJSON(t, srv, "/api/runs?filter="+url.QueryEscape("params.lr = '2'")+"&order=name", 200, &list)
	if len(list.Runs) != 2 || list.Runs[0].Name != "gram-lr2" || list.Runs[1].Name != "mmd-lr2" {
		t.Errorf("/api/runs filter+order: %+v", list.Runs)
	}
	decodeJSON(t, srv, "/api/runs?limit=1", 200, &list)
	if len(list.Runs) != 1 {
		t.Errorf("limit=1 gave %d runs", len(list.Runs))
	}
	var one struct {
		Run       tracker.RunInfo `json:"run"`
		Metrics   []string        `json:"metrics"`
		Artifacts []APIArtifact   `json:"artifacts"`
	}
	decodeJSON(t, srv, "/api/runs/"+ids[2][:8], 200, &one)
	if one.Run.ID != ids[2] || one.Run.Status != "FAILED" || len(one.Metrics) != 2 || one.Run.Params["loss"] != "mmd-poly" {
		t.Errorf("/api/runs/{id}: %+v", one)
	}
	// NaN latest value → "NaN" (JSON has no NaN; tracker.Value's convention), decoded back to NaN.
	if v, ok := one.Run.Latest["total"]; !ok || !math.IsNaN(v) || rawLatest(t, srv, "/api/runs/"+ids[2], "total") != `"NaN"` {
		t.Errorf("latest total of the diverged run should be \"NaN\", got %v", v)
	}
	var h struct {
		Run    string          `json:"run"`
		Key    string          `json:"key"`
		Count  int             `json:"count"`
		Steps  []int64         `json:"steps"`
		Values []tracker.Value `json:"values"`
		Times  []int64         `json:"times"`
	}
	decodeJSON(t, srv, "/api/runs/"+ids[2]+"/metrics/total", 200, &h)
	if h.Count != 40 || len(h.Steps) != 40 || math.IsNaN(float64(h.Values[29])) || !math.IsNaN(float64(h.Values[30])) || h.Values[0] != 3e4 {
		t.Errorf("history with NaN from step 30: count %d, v29 %v, v30 %v", h.Count, h.Values[29], h.Values[30])
	}
	decodeJSON(t, srv, "/api/runs/"+ids[0]+"/metrics/style/relu1_1", 200, &h)
	if h.Key != "style/relu1_1" || len(h.Steps) != 40 {
		t.Errorf("a key with a slash: %+v", h)
	}
	decodeJSON(t, srv, "/api/runs/"+ids[0]+"/metrics/total?max=10", 200, &h)
	if h.Count != 40 || len(h.Steps) > 10 || h.Steps[0] != 0 || h.Steps[len(h.Steps)-1] != 39 {
		t.Errorf("max=10: count %d, %d steps %v", h.Count, len(h.Steps), h.Steps)
	}
	var e map[string]string
	decodeJSON(t, srv, "/api/runs/"+ids[0]+"/metrics/nope", 404, &e)
	if !strings.Contains(e["error"], "total") {
		t.Errorf("unknown metric error should list the run's metrics: %q", e["error"])
	}
	decodeJSON(t, srv, "/api/runs/ffffffff", 404, &e)
	decodeJSON(t, srv, "/api/runs?filter="+url.QueryEscape("nonsense ~~ 1"), 400, &e)
	decodeJSON(t, srv, "/api/runs?limit=-3", 400, &e)

	var cmp struct {
		Runs   []tracker.RunInfo `json:"runs"`
		Params []APIParam        `json:"params"`
		Keys   []string          `json:"metric_keys"`
		// per key, one history per run that logged it
		Metrics map[string][]struct {
			Run    string          `json:"run"`
			Steps  []int64         `json:"steps"`
			Values []tracker.Value `json:"values"`
		} `json:"metrics"`
		Images []struct {
			Name      string         `json:"name"`
			Artifacts []*APIArtifact `json:"artifacts"`
		} `json:"images"`
	}
	decodeJSON(t, srv, "/api/compare?ids="+strings.Join(ids, ","), 200, &cmp)
	if len(cmp.Runs) != 3 || len(cmp.Metrics["total"]) != 3 || len(cmp.Metrics["content"]) != 1 || cmp.Metrics["content"][0].Run != ids[2] {
		t.Errorf("/api/compare runs/metrics: %d runs, %d total, content %+v", len(cmp.Runs), len(cmp.Metrics["total"]), cmp.Metrics["content"])
	}
	for _, p := range cmp.Params {
		if want := p.Key == "lr" || p.Key == "loss"; p.Differ != want {
			t.Errorf("param %s differ=%v, want %v", p.Key, p.Differ, want)
		}
	}
	if len(cmp.Images) != 1 || cmp.Images[0].Name != "output.png" || len(cmp.Images[0].Artifacts) != 3 {
		t.Errorf("images: %+v", cmp.Images)
	}
	decodeJSON(t, srv, "/api/compare", 400, &e)
}

func decodeJSON(t *testing.T, srv *httptest.Server, path string, code int, v any) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != code {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s = %d, want %d: %s", path, resp.StatusCode, code, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// rawLatest is the JSON text of the run's latest value for key.
func rawLatest(t *testing.T, srv *httptest.Server, path, key string) string {
	var raw struct {
		Run struct {
			Latest map[string]json.RawMessage `json:"latest"`
		} `json:"run"`
	}
	decodeJSON(t, srv, path, 200, &raw)
	return string(raw.Run.Latest[key])
}

func TestCompareReportSelfContained(t *testing.T) {
	path, ids := fillStore(t, threeRuns())
	st, err := tracker.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var b bytes.Buffer
	if err := WriteCompareReport(&b, st, ids, Options{Source: path}); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	if n := strings.Count(html, "data:image/png;base64,"); n != 3 {
		t.Errorf("want 3 inlined images, got %d", n)
	}
	for _, bad := range []string{`src="/`, `href="/`, `<script src`, `<link`} {
		if strings.Contains(html, bad) {
			t.Errorf("report refers to the server: contains %q", bad)
		}
	}
	if !strings.Contains(html, "echarts") || !strings.Contains(html, "stylelabCharts = {") || !strings.Contains(html, `data-stylelab-chart="metric-0"`) {
		t.Error("report lacks the inlined chart library or charts")
	}
	if !strings.Contains(html, path) {
		t.Error("report header lacks the database path")
	}
	if !strings.Contains(html, `class="differ"`) {
		t.Error("report lacks the param diff highlighting")
	}
}
