package dashboard

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestConsistentBadRequests(t *testing.T) {
	path, ids := fillStore(t, threeRuns())
	_, srv := openServer(t, path, Options{})

	// More than MaxCompare runs: 400 from the page and from the API.
	var many []string
	for i := 0; i <= MaxCompare; i++ {
		many = append(many, fmt.Sprintf("%08x", i))
	}
	for _, p := range []string{"/compare?ids=", "/api/compare?ids="} {
		if resp, body := get(t, srv, p+strings.Join(many, ",")); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, fmt.Sprintf("at most %d", MaxCompare)) {
			t.Errorf("%s with %d ids: %d %.200s", p, len(many), resp.StatusCode, body)
		}
	}
	// limit: the same rule for the page and the API (a positive integer).
	for _, l := range []string{"0", "-1", "x"} {
		for _, p := range []string{"/?limit=", "/api/runs?limit="} {
			if resp, body := get(t, srv, p+l); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "positive") {
				t.Errorf("%s%s: %d %.200s", p, l, resp.StatusCode, body)
			}
		}
	}
	if resp, body := get(t, srv, "/api/runs?limit=2"); resp.StatusCode != 200 || strings.Count(body, `"id"`) != 2 {
		t.Errorf("/api/runs?limit=2: %d", resp.StatusCode)
	}
	// A malformed query string is an error, not ignored (filter=% would otherwise list every run).
	for _, p := range []string{"/?filter=%", "/api/runs?filter=%", "/api/runs?filter=metrics.total%zz0"} {
		if resp, body := get(t, srv, p); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "%25") {
			t.Errorf("%s: %d %.200s, want 400 naming the escape", p, resp.StatusCode, body)
		}
	}
	// A too-long filter is not echoed back in full.
	long := "params.lr = '" + strings.Repeat("x", 20000) + "'"
	for _, p := range []string{"/?filter=", "/api/runs?filter="} {
		resp, body := get(t, srv, p+url.QueryEscape(long))
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(body, strings.Repeat("x", 200)) || len(body) > 20000 ||
			!strings.Contains(body, "longer than") {
			t.Errorf("%s<20 kB>: %d, %d bytes back", p, resp.StatusCode, len(body))
		}
	}
	// NaN and infinities in filters, as the hints say.
	for f, want := range map[string]int{
		"metrics.total = NaN": 1, "metrics.total = 'NaN'": 1, "metrics.total != NaN": 2,
		"metrics.total > -inf": 2, "metrics.total < Infinity": 2, "metrics.total in (NaN)": 1,
	} {
		resp, body := get(t, srv, "/api/runs?filter="+url.QueryEscape(f))
		var got struct{ Runs []struct{ ID string } }
		json.Unmarshal([]byte(body), &got)
		if resp.StatusCode != 200 || len(got.Runs) != want {
			t.Errorf("filter %q: %d, %d runs (want %d): %.200s", f, resp.StatusCode, len(got.Runs), want, body)
		}
	}
	_ = ids
}

func TestMetricLinksEscaped(t *testing.T) {
	names := []string{"loss?x=1", "acc#top", "a b/c%d"}
	tr := testRun{name: "odd-names", steps: 3, metrics: map[string]func(int) float64{}}
	for i, n := range names {
		v := float64(i + 1)
		tr.metrics[n] = func(int) float64 { return v }
	}
	path, ids := fillStore(t, []testRun{tr})
	_, srv := openServer(t, path, Options{})
	_, page := get(t, srv, "/runs/"+ids[0])
	hrefs := regexp.MustCompile(`href="(/api/runs/[^"]+/metrics/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(hrefs) != len(names) {
		t.Fatalf("%d metric links on the run page, want %d", len(hrefs), len(names))
	}
	seen := map[string]bool{}
	for _, h := range hrefs {
		link := strings.ReplaceAll(h[1], "&amp;", "&")
		resp, body := get(t, srv, link)
		var got APIHistory
		if err := json.Unmarshal([]byte(body), &got); resp.StatusCode != 200 || err != nil || len(got.Values) != 3 {
			t.Errorf("link %s: %d %.200s", link, resp.StatusCode, body)
			continue
		}
		seen[got.Key] = true
		if v := float64(got.Values[0]); math.IsNaN(v) {
			t.Errorf("link %s: NaN", link)
		}
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("no working link for metric %q", n)
		}
	}
}
