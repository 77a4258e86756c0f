package tracker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/tracker/filter"
)

// Filter forms where stylelab once disagreed with MLflow's own parser and store tests (issue #21, "From
// MLflow's test cases"), written for stylelab's runs and run on both stores.

// mlflowRuns records seven runs with fixed ids: statuses, params logged as different texts for the same
// number, a tag, and a metric "a" whose latest value is finite, ±Inf, NaN or missing.
func mlflowRuns(t *testing.T, s *Store) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for i, r := range []struct {
		name, status, lr string
		a                float64
		hasA             bool
	}{
		{"fin", StatusFinished, "0.1", 0.5, true},
		{"fail", StatusFailed, "0.10", math.NaN(), true},
		{"kill", StatusKilled, "1e-1", 0.05, true},
		{"inf", StatusFinished, "", math.Inf(1), true},
		{"neginf", StatusFinished, "", math.Inf(-1), true},
		{"nan2", StatusFinished, "", math.NaN(), true},
		{"none", StatusFinished, "", 0, false},
	} {
		id := fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xa0+i, 0xabc0+i)
		ids[r.name] = id
		run := startRun(t, s, "mlflow", r.name, WithID(id))
		if r.lr != "" {
			run.LogParams(map[string]string{"lr": r.lr})
		}
		if r.name == "fin" {
			run.SetTag("source_name", "a notebook")
		}
		if r.hasA {
			run.LogMetric("a", 0, 123) // an older value: filters and order use the latest
			run.LogMetric("a", 1, r.a)
		}
		var err error
		switch r.status {
		case StatusFailed:
			err = errors.New("boom")
		case StatusKilled:
			err = fmt.Errorf("interrupted: %w", context.Canceled)
		}
		if e := run.End(&err); e != nil {
			t.Fatal(e)
		}
	}
	return ids
}

func runNames(runs []RunInfo) string {
	n := make([]string, len(runs))
	for i, r := range runs {
		n[i] = r.Name
	}
	return strings.Join(n, ",")
}

func TestMLflowFilterCases(t *testing.T) { eachBackend(t, testMLflowFilterCases) }

func testMLflowFilterCases(t *testing.T, be backend) {
	s := be.newStore(t)
	ids := mlflowRuns(t, s)
	hex := func(name string) string { return strings.ReplaceAll(ids[name], "-", "") }
	for _, c := range []struct{ filter, want string }{
		// 1. LIKE / ILIKE on status take patterns.
		{"status LIKE 'FIN%'", "fin,inf,nan2,neginf,none"},
		{"status ILIKE 'fin%'", "fin,inf,nan2,neginf,none"},
		{"status LIKE 'fin%'", ""}, // LIKE is case-sensitive
		{"attributes.status ILIKE '%ed'", "fail,fin,inf,kill,nan2,neginf,none"},
		{"status NOT IN ('finished') AND status LIKE '%ED'", "fail,kill"},
		// 5. a status name in any case (documented).
		{"status = 'failed'", "fail"},
		{"status != 'Finished'", "fail,kill"},
		// 2. backtick-quoted prefixes.
		{"`metric`.a >= 0.1", "fin,inf"},
		{"`metrics`.a < 0.1", "kill,neginf"},
		{"`tags`.source_name = 'a notebook'", "fin"},
		{"`params`.lr = '0.10'", "fail"},
		{"`attribute`.status = 'KILLED'", "kill"},
		// 5. parameter(s). prefixes.
		{"parameter.lr = '0.1'", "fin"},
		{"parameters.lr IN ('1e-1', '0.10')", "fail,kill"},
		// 3. params are text: the quoted number matches the text logged, and only it.
		{"params.lr = '0.1'", "fin"},
		{"params.lr != '0.1'", "fail,kill"},
		// NaN and ±Inf as metric values.
		{"metrics.a = NaN", "fail,nan2"},
		{"metrics.a > 1e300", "inf"},
		// 6. MLflow's 32-hex ids and upper case.
		{"id = '" + hex("kill") + "'", "kill"},
		{"run_id = '" + strings.ToUpper(ids["fin"]) + "'", "fin"},
		{"attributes.run_id IN ('" + strings.ToUpper(hex("inf")) + "', '" + ids["none"] + "')", "inf,none"},
		{"run_id != '" + hex("fin") + "' AND status = 'FINISHED'", "inf,nan2,neginf,none"},
	} {
		runs, err := s.Search(c.filter, "name", 0)
		if err != nil {
			t.Errorf("Search(%q): %v", c.filter, err)
			continue
		}
		if got := runNames(runs); got != c.want {
			t.Errorf("Search(%q) = %q, want %q", c.filter, got, c.want)
		}
	}
	// 3. An unquoted number against a param is refused, with both fixes named.
	for _, f := range []string{"params.lr = 0.1", "params.lr != 0.1", "tags.source_name IN (1, 2)"} {
		_, err := s.Search(f, "", 0)
		var fe *filter.Error
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "quote it") || !strings.Contains(err.Error(), "metrics.") {
			t.Errorf("Search(%q) = %v, want a filter error saying to quote it or use a metric", f, err)
		}
	}
}

// TestMLflowOrderByNaN: NaN sorts after every number (±Inf included) and before the runs lacking the metric,
// ascending and descending, and the same every time (4).
func TestMLflowOrderByNaN(t *testing.T) { eachBackend(t, testMLflowOrderByNaN) }

func testMLflowOrderByNaN(t *testing.T, be backend) {
	s := be.newStore(t)
	mlflowRuns(t, s)
	// Ties (the two NaNs) fall back to the default order: newest first, so nan2 before fail.
	for _, c := range []struct{ order, want string }{
		{"metrics.a", "neginf,kill,fin,inf,nan2,fail,none"},
		{"metrics.a ASC", "neginf,kill,fin,inf,nan2,fail,none"},
		{"metrics.a DESC", "inf,fin,kill,neginf,nan2,fail,none"},
		{"`metric`.a DESC, name DESC", "inf,fin,kill,neginf,nan2,fail,none"},
		{"metrics.a DESC, name", "inf,fin,kill,neginf,fail,nan2,none"},
		{"metrics.a desc ", "inf,fin,kill,neginf,nan2,fail,none"}, // 7. a trailing blank is accepted
	} {
		for range 2 {
			runs, err := s.Search("", c.order, 0)
			if err != nil {
				t.Fatalf("order %q: %v", c.order, err)
			}
			if got := runNames(runs); got != c.want {
				t.Errorf("order %q = %s, want %s", c.order, got, c.want)
			}
		}
	}
}

// TestRunIDForms: every command taking a run id or prefix resolves MLflow's 32-hex form, upper case, and
// dashless prefixes (6) — GetRun, History, MetricSummaries, Delete/Restore.
func TestRunIDForms(t *testing.T) { eachBackend(t, testRunIDForms) }

func testRunIDForms(t *testing.T, be backend) {
	s := be.newStore(t)
	ids := mlflowRuns(t, s)
	id := ids["fin"]
	hex := strings.ReplaceAll(id, "-", "")
	for _, form := range []string{id, hex, strings.ToUpper(hex), strings.ToUpper(id), hex[:12], strings.ToUpper(hex[:20]), id[:13]} {
		ri, err := s.GetRun(form)
		if err != nil || ri.ID != id {
			t.Errorf("GetRun(%q) = %v, %v; want run %s", form, ri, err, id)
			continue
		}
		if h, err := s.History(form, "a"); err != nil || len(h) != 2 {
			t.Errorf("History(%q) = %v, %v", form, h, err)
		}
		if ms, err := s.MetricSummaries(form); err != nil || len(ms) != 1 {
			t.Errorf("MetricSummaries(%q) = %v, %v", form, ms, err)
		}
	}
	if got, err := s.Delete(strings.ToUpper(hex), false); err != nil || got != id {
		t.Fatalf("Delete(32-hex) = %q, %v", got, err)
	}
	if got, err := s.Restore(hex); err != nil || got != id {
		t.Fatalf("Restore(32-hex) = %q, %v", got, err)
	}
	for _, bad := range []string{hex + "0", "a0000000b", "xyz", id + "0"} {
		if ri, err := s.GetRun(bad); err == nil {
			t.Errorf("GetRun(%q) = %s, want an error", bad, ri.ID)
		}
	}
}
