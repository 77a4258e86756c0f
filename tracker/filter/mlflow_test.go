package filter

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// Cases where stylelab's filter once disagreed with MLflow's (issue #21), checked at the parser; the store
// tests (tracker/mlflow_cases_test.go) run the same forms against SQLite and PostgreSQL.

// TestStatusPatterns: LIKE and ILIKE on status take a pattern (checked against nothing), while = != IN
// still refuse a name that is not a status.
func TestStatusPatterns(t *testing.T) {
	for _, c := range []struct {
		expr string
		d    *Dialect
		text string
		args []any
	}{
		{"status LIKE 'FIN%'", SQLite, "r.status GLOB ?", []any{"FIN*"}},
		{"attributes.status ILIKE 'fin%'", SQLite, "r.status LIKE ?", []any{"fin%"}},
		{"status LIKE 'FIN%'", Postgres, "r.status LIKE ? ESCAPE ''", []any{"FIN%"}},
		{"status ILIKE 'fin%'", Postgres, "r.status ILIKE ? ESCAPE ''", []any{"fin%"}},
		{"status = 'finished'", SQLite, "r.status = ?", []any{"FINISHED"}},
		{"status in ('killed', 'Failed')", SQLite, "r.status IN (?, ?)", []any{"KILLED", "FAILED"}},
	} {
		got, err := Where(c.d, c.expr)
		if err != nil {
			t.Errorf("Where(%s, %q): %v", c.d, c.expr, err)
			continue
		}
		if got.Text != c.text || !reflect.DeepEqual(got.Args, c.args) {
			t.Errorf("Where(%s, %q) = %q %#v, want %q %#v", c.d, c.expr, got.Text, got.Args, c.text, c.args)
		}
		checkComposition(t, c.expr, got)
	}
	for _, bad := range []string{"status = 'DONE'", "status != 'fin%'", "status IN ('FINISHED', 'over')", "status = 1"} {
		if _, err := Where(SQLite, bad); err == nil || !strings.Contains(err.Error(), "unknown status") {
			t.Errorf("Where(%q) = %v, want an unknown status error", bad, err)
		}
	}
}

// TestQuotedPrefixes: a backtick-quoted prefix reads as the unquoted one, in filters and order-by lists.
func TestQuotedPrefixes(t *testing.T) {
	for _, c := range []struct{ quoted, plain string }{
		{"`metric`.a >= 0.1", "metrics.a >= 0.1"},
		{"`metrics`.a >= 0.1", "metrics.a >= 0.1"},
		{"`tags`.source_name = 'a notebook'", "tags.source_name = 'a notebook'"},
		{"`params`.lr = '0.1'", "params.lr = '0.1'"},
		{"`params`.`mmd-kernel` = 'poly'", "params.`mmd-kernel` = 'poly'"},
		{"`PARAMS`.style.weight = '1e6'", "params.style.weight = '1e6'"},
		{"`attribute`.status = 'FINISHED'", "status = 'FINISHED'"},
		{"`attributes`.`start_time` > 0", "start_time > 0"},
		{"`parameter`.lr = '0.1'", "params.lr = '0.1'"},
		{"parameter.lr = '0.1' and parameters.`a b` != 'x'", "params.lr = '0.1' and params.`a b` != 'x'"},
	} {
		want, err := Where(SQLite, c.plain)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Where(SQLite, c.quoted)
		if err != nil {
			t.Errorf("Where(%q): %v", c.quoted, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Where(%q) = %q %#v, want that of %q: %q %#v", c.quoted, got.Text, got.Args, c.plain, want.Text, want.Args)
		}
	}
	want, _ := OrderBy(SQLite, "metrics.a DESC, params.b")
	if got, err := OrderBy(SQLite, "`metric`.a DESC, `param`.b"); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("quoted prefixes in order-by: %q %v", got.Text, err)
	}
	for _, c := range []struct{ expr, want string }{
		{"`bogus`.a = 'x'", `unknown field prefix "bogus"`},
		{"`status` = 'x'", "needs a prefix"},
	} {
		if _, err := Where(SQLite, c.expr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Where(%q) = %v, want an error containing %q", c.expr, err, c.want)
		}
	}
}

// TestNumbersAgainstStrings: an unquoted number compared with a param, tag or string attribute is refused,
// and the message gives both fixes.
func TestNumbersAgainstStrings(t *testing.T) {
	for _, expr := range []string{"params.lr = 0.1", "params.lr != 0.1", "tags.n = 3", "params.lr IN ('0.1', 0.01)", "name = 5", "run_id = 1"} {
		_, err := Where(SQLite, expr)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Where(%q) = %v, want a *filter.Error", expr, err)
			continue
		}
		if strings.HasPrefix(expr, "params") || strings.HasPrefix(expr, "tags") {
			if !strings.Contains(fe.Msg, "is a string") || !strings.Contains(fe.Msg, "quote it") || !strings.Contains(fe.Msg, "metrics.") {
				t.Errorf("Where(%q) error %q does not say params are strings and give both fixes", expr, fe.Msg)
			}
		} else if !strings.Contains(fe.Msg, "quote the value") {
			t.Errorf("Where(%q) error %q does not say to quote the value", expr, fe.Msg)
		}
	}
	// Numbers stay numbers where the field is one.
	for _, expr := range []string{"metrics.lr = 0.1", "start_time > 1700000000000", "params.lr = '0.1'"} {
		if _, err := Where(SQLite, expr); err != nil {
			t.Errorf("Where(%q): %v", expr, err)
		}
	}
}

// TestRunIDForms: MLflow's 32-hex run ids and upper-case UUIDs are bound in the store's form.
func TestRunIDForms(t *testing.T) {
	const id = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
	for _, in := range []string{id, "0f1e2d3c4b5a49788695a4b3c2d1e0f9", "0F1E2D3C4B5A49788695A4B3C2D1E0F9", strings.ToUpper(id)} {
		if got := CanonicalID(in); got != id {
			t.Errorf("CanonicalID(%q) = %q, want %q", in, got, id)
		}
		for _, expr := range []string{"id = '" + in + "'", "run_id != '" + in + "'", "attributes.run_id IN ('" + in + "')"} {
			got, err := Where(Postgres, expr)
			if err != nil || !reflect.DeepEqual(got.Args, []any{id}) {
				t.Errorf("Where(%q) args %#v, %v; want [%s]", expr, got.Args, err, id)
			}
		}
	}
	for _, other := range []string{"abc", "0f1e2d3c4b5a49788695a4b3c2d1e0f", "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fg", "zz1e2d3c4b5a49788695a4b3c2d1e0f9"} {
		if got := CanonicalID(other); got != other {
			t.Errorf("CanonicalID(%q) = %q, want it unchanged", other, got)
		}
	}
	// LIKE patterns are left as written.
	if got, _ := Where(SQLite, "id LIKE '0F1E%'"); !reflect.DeepEqual(got.Args, []any{"0F1E*"}) {
		t.Errorf("id LIKE args %#v", got.Args)
	}
}

// TestDialectsDiffer: the two dialects emit their own LIKE and infinity fragments and nothing else differs.
func TestDialectsDiffer(t *testing.T) {
	const expr = "metrics.x < Inf and name like 'a%' and name ilike 'B_'"
	lite, _ := Where(SQLite, expr)
	pg, _ := Where(Postgres, expr)
	if !strings.Contains(lite.Text, "9e999") || strings.Contains(lite.Text, "Infinity") || !strings.Contains(lite.Text, "GLOB") {
		t.Errorf("SQLite text %q", lite.Text)
	}
	if strings.Contains(pg.Text, "9e999") || !strings.Contains(pg.Text, "'Infinity'::float8") || !strings.Contains(pg.Text, "ILIKE ? ESCAPE ''") {
		t.Errorf("PostgreSQL text %q", pg.Text)
	}
	if lite.Args[2] != "a*" || pg.Args[2] != "a%" || lite.Args[3] != "B_" || pg.Args[3] != "B_" {
		t.Errorf("pattern args: sqlite %#v, postgres %#v", lite.Args, pg.Args)
	}
	checkComposition(t, expr, lite)
	checkComposition(t, expr, pg)
}
