package filter

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestWhere(t *testing.T) {
	const pv = "EXISTS (SELECT 1 FROM params p WHERE p.run = r.rid AND p.key = ? AND p.value"
	const mv = "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run = r.rid AND m.key = ? AND (CASE m.nonfinite WHEN 0 THEN m.value WHEN 2 THEN 9e999 WHEN 3 THEN -9e999 END)"
	const tv = "EXISTS (SELECT 1 FROM tags t WHERE t.run = r.rid AND t.key = ? AND t.value"
	cases := []struct {
		expr string
		text string
		args []any
	}{
		{"", "", nil},
		{"   ", "", nil},
		{"params.loss = 'gram'", pv + " = ?)", []any{"loss", "gram"}},
		{"params.loss == \"gram\"", pv + " = ?)", []any{"loss", "gram"}},
		{"metrics.style_loss < 0.1", mv + " < ?)", []any{"style_loss", 0.1}},
		{"metrics.style_loss >= -1e-3", mv + " >= ?)", []any{"style_loss", -1e-3}},
		{"status = 'FINISHED'", "r.status = ?", []any{"FINISHED"}},
		{"attributes.status = 'finished'", "r.status = ?", []any{"FINISHED"}},
		{
			"params.loss = 'gram' and metrics.style_loss < 0.1 and status = 'FINISHED'",
			"((" + pv + " = ?) AND " + mv + " < ?)) AND r.status = ?)",
			[]any{"loss", "gram", "style_loss", 0.1, "FINISHED"},
		},
		{
			"params.a = '1' OR params.b = '2' AND tags.c != 'x'",
			"(" + pv + " = ?) OR (" + pv + " = ?) AND " + tv + " != ?)))",
			[]any{"a", "1", "b", "2", "c", "x"},
		},
		{
			"(params.a = '1' OR params.b = '2') AND NOT tags.c = 'x'",
			"((" + pv + " = ?) OR " + pv + " = ?)) AND (NOT " + tv + " = ?)))",
			[]any{"a", "1", "b", "2", "c", "x"},
		},
		{"params.`mmd-kernel` = 'poly'", pv + " = ?)", []any{"mmd-kernel", "poly"}},
		{"params.\"mmd kernel\" = 'poly'", pv + " = ?)", []any{"mmd kernel", "poly"}},
		{"params.style.weight = '1e6'", pv + " = ?)", []any{"style.weight", "1e6"}},
		{"params.lr IN ('0.1', '0.01')", pv + " IN (?, ?))", []any{"lr", "0.1", "0.01"}},
		{"params.lr not in ('0.1')", pv + " NOT IN (?))", []any{"lr", "0.1"}},
		{"name LIKE 'sweep-%_*'", "r.name GLOB ?", []any{"sweep-*?[*]"}},
		{"name ILIKE 'Sweep%'", "r.name LIKE ?", []any{"Sweep%"}},
		{"experiment = 'gatys'", "e.name = ?", []any{"gatys"}},
		{"run_id = 'abc'", "r.id = ?", []any{"abc"}},
		{"start_time > 1700000000000", "r.start_ms > ?", []any{int64(1700000000000)}},
		{"start_time > '2024-05-01T00:00:00Z'", "r.start_ms > ?", []any{time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC).UnixMilli()}},
		{"params.x = 'it''s' ", pv + " = ?)", []any{"x", "it's"}},
		{`params.x = 'a\'b\\c\d'`, pv + " = ?)", []any{"x", `a'b\c\d`}},
		// A string that looks like an injection is just a value, bound as an argument.
		{"params.x = 'a''; DROP TABLE runs; --'", pv + " = ?)", []any{"x", "a'; DROP TABLE runs; --"}},
	}
	for _, c := range cases {
		got, err := Where(SQLite, c.expr)
		if err != nil {
			t.Errorf("Where(%q): %v", c.expr, err)
			continue
		}
		if got.Text != c.text || !reflect.DeepEqual(got.Args, c.args) {
			t.Errorf("Where(%q)\n got %q %#v\nwant %q %#v", c.expr, got.Text, got.Args, c.text, c.args)
		}
		checkComposition(t, c.expr, got)
	}
}

func TestWhereErrors(t *testing.T) {
	cases := []struct {
		expr, want string
		pos        int
	}{
		{"params.loss = gram", "quoted value", 14},
		{"params.loss = 'gram", "unterminated string", 14},
		{"metrics.loss < 'low'", "compares with a number", 15},
		{"params.lr < '0.1'", "compares strings", 10},
		{"status = 'DONE'", "unknown status", 9},
		{"bogus = 'x'", "unknown attribute", 0},
		{"foo.bar = 'x'", "unknown field prefix", 0},
		{"params.x = 'a' and", "expected a field", 18},
		{"(params.x = 'a'", "expected ')'", 15},
		{"params.x = 'a')", "unbalanced ')'", 14},
		{"params.x = 'a' params.y = 'b'", "expected AND, OR", 15},
		{"params.x in ()", "expected a value", 13},
		{"params.x = 1e999", "out of the float64 range", 11},
		{"start_time > 'yesterday'", "cannot read", 13},
		{"start_time like '2024%'", "is a number", 11},
		{"`status` = 'x'", "needs a prefix", 0},
		{"params. = 'x'", "expected a key", 8},
		{"metrics.x = 1.2.3", "malformed number", 12},
		// Injection attempts: each must be a parse error, never SQL.
		{"params.x = 'a'; DROP TABLE runs", "';' is not allowed", 14},
		{"params.x = 'a' OR 1=1", "expected a field", 18},
		{"params.x = 'a' -- comment", "comments are not allowed", 15},
		{"params.x = 'a' /* c */", "unexpected character", 15},
		{"status = 'FINISHED' UNION SELECT * FROM runs", "unexpected character '*'", 33},
		{"status = 'FINISHED' UNION SELECT id FROM runs", "expected AND, OR", 20},
		{"params.x = '' OR '1'='1'", "expected a field", 17},
		{"params.x = 'a' AND name = r.id", "quoted value", 26},
		{"metrics.x < (SELECT 1)", "expected a value", 12},
		{"params.x = 'a\x00'; --", "';' is not allowed", 15},
		{strings.Repeat("(", 60) + "status = 'RUNNING'" + strings.Repeat(")", 60), "nested more than", 50},
	}
	for _, c := range cases {
		got, err := Where(SQLite, c.expr)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Where(%q) = %q, %v; want a *filter.Error containing %q", c.expr, got.Text, err, c.want)
			continue
		}
		if !strings.Contains(fe.Msg, c.want) || fe.Pos != c.pos {
			t.Errorf("Where(%q) error %q at %d; want %q at %d", c.expr, fe.Msg, fe.Pos, c.want, c.pos)
		}
		if !strings.Contains(err.Error(), c.expr[:min(len(c.expr), 10)]) {
			t.Errorf("error %q does not quote the expression", err)
		}
	}
}

func TestOrderBy(t *testing.T) {
	const nan = "(SELECT (CASE m.nonfinite WHEN 1 THEN 1 ELSE 0 END) FROM latest_metrics m WHERE m.run = r.rid AND m.key = ?)"
	const ord = "(SELECT (CASE m.nonfinite WHEN 0 THEN m.value WHEN 2 THEN 9e999 WHEN 3 THEN -9e999 END) FROM latest_metrics m WHERE m.run = r.rid AND m.key = ?)"
	cases := []struct {
		spec, text string
		args       []any
	}{
		{"", "", nil},
		{"metrics.style_loss", nan + " ASC NULLS LAST, " + ord + " ASC NULLS LAST", []any{"style_loss", "style_loss"}},
		{"metrics.`a-b` desc, start_time", nan + " ASC NULLS LAST, " + ord + " DESC NULLS LAST, r.start_ms ASC NULLS LAST", []any{"a-b", "a-b"}},
		{"start_time desc ", "r.start_ms DESC NULLS LAST", nil}, // a trailing blank is accepted (MLflow refuses it)
		{"params.lr ASC, tags.t DESC, name", "(SELECT p.value FROM params p WHERE p.run = r.rid AND p.key = ?) ASC NULLS LAST, (SELECT t.value FROM tags t WHERE t.run = r.rid AND t.key = ?) DESC NULLS LAST, r.name ASC NULLS LAST", []any{"lr", "t"}},
	}
	for _, c := range cases {
		got, err := OrderBy(SQLite, c.spec)
		if err != nil {
			t.Errorf("OrderBy(%q): %v", c.spec, err)
			continue
		}
		if got.Text != c.text || !reflect.DeepEqual(got.Args, c.args) {
			t.Errorf("OrderBy(%q)\n got %q %#v\nwant %q %#v", c.spec, got.Text, got.Args, c.text, c.args)
		}
		checkComposition(t, c.spec, got)
	}
	for _, bad := range []string{"start_time; DROP TABLE runs", "metrics.x DESC DESC", "random()", "1", "start_time,", "name COLLATE nocase"} {
		if got, err := OrderBy(SQLite, bad); err == nil {
			t.Errorf("OrderBy(%q) = %q, want an error", bad, got.Text)
		}
	}
}

// checkComposition asserts that s.Text is a concatenation of the package's fixed fragments (so no byte of
// the input reached the SQL text) and that it has exactly one placeholder per argument.
func checkComposition(t testing.TB, input string, s SQL) {
	t.Helper()
	if !composed(s.Text) {
		t.Fatalf("input %q: SQL text %q is not made of the fixed fragments", input, s.Text)
	}
	if n := strings.Count(s.Text, "?"); n != len(s.Args) {
		t.Fatalf("input %q: %d placeholders but %d args in %q", input, n, len(s.Args), s.Text)
	}
	for _, a := range s.Args {
		switch a.(type) {
		case string, float64, int64:
		default:
			t.Fatalf("input %q: argument %#v of type %T", input, a, a)
		}
	}
}

// composed reports whether text splits into fragments (word-break dynamic programme over the fragment list).
func composed(text string) bool {
	frags := make([]string, len(fragments))
	for i, f := range fragments {
		frags[i] = string(f)
	}
	sort.Slice(frags, func(i, j int) bool { return len(frags[i]) > len(frags[j]) })
	ok := make([]bool, len(text)+1)
	ok[0] = true
	for i := 0; i < len(text); i++ {
		if !ok[i] {
			continue
		}
		for _, f := range frags {
			if strings.HasPrefix(text[i:], f) {
				ok[i+len(f)] = true
			}
		}
	}
	return ok[len(text)]
}

func TestComposedRejectsForeignText(t *testing.T) {
	// The checker itself must be able to fail.
	for _, s := range []string{"r.status = 'x'", "r.status = ?; DROP", "r.namex"} {
		if composed(s) {
			t.Errorf("composed(%q) = true", s)
		}
	}
	if !composed("(r.status = ? AND r.name GLOB ?)") {
		t.Error("composed rejects a valid composition")
	}
}

var fuzzSeeds = []string{
	"params.loss = 'gram' and metrics.style_loss < 0.1 and status = 'FINISHED'",
	"tags.`provenance.git.dirty` = 'false' or (params.lr in ('0.1', '0.01') and name like 'sweep-%')",
	"not (metrics.x >= -1.5e3) and start_time > '2024-05-01'",
	"params.x = 'a''; DROP TABLE runs; --'",
	"params.x = 'a'; DROP TABLE runs",
	"params.x = 'a' OR 1=1",
	"experiment ilike \"ga%\" and id != 'abc' and end_time <= 17",
	"((((status = 'RUNNING'))))",
	"metrics.`a``b` <> 3",
	"params.\"k\" not in ('1', 2, 3.5)",
	"run.name = 'x'",
	"'",
	"`",
	"params.",
	"-",
	".5",
	"metrics.x < .5e",
}

// FuzzWhere checks that the parser never panics and that whatever it accepts is SQL made only of the fixed
// fragments with one placeholder per argument. Run with: go test -fuzz FuzzWhere ./tracker/filter
func FuzzWhere(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		for _, d := range []*Dialect{SQLite, Postgres} {
			s, err := Where(d, expr)
			if err != nil {
				var fe *Error
				if !errors.As(err, &fe) {
					t.Fatalf("Where(%q) error %v is not a *filter.Error", expr, err)
				}
				if fe.Pos < 0 || fe.Pos > len(expr) {
					t.Fatalf("Where(%q) error position %d outside the expression", expr, fe.Pos)
				}
				return
			}
			checkComposition(t, expr, s)
		}
	})
}

// FuzzOrderBy is FuzzWhere for order-by lists.
func FuzzOrderBy(f *testing.F) {
	for _, s := range []string{"metrics.x desc", "start_time, params.`a b` ASC", "name; drop", "tags.x desc,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		for _, d := range []*Dialect{SQLite, Postgres} {
			s, err := OrderBy(d, spec)
			if err != nil {
				var fe *Error
				if !errors.As(err, &fe) {
					t.Fatalf("OrderBy(%q) error %v is not a *filter.Error", spec, err)
				}
				return
			}
			checkComposition(t, spec, s)
		}
	})
}

// TestNonFiniteValues: the words the hints suggest (NaN, Inf, -Inf, Infinity, quoted or not) are numbers
// for metrics; NaN is refused where it cannot match.
func TestNonFiniteValues(t *testing.T) {
	for _, expr := range []string{"metrics.x = NaN", "metrics.x = 'NaN'", "metrics.x != nan", "metrics.x > -inf",
		"metrics.x < Infinity", "metrics.x <= +Inf", "metrics.x = '-Infinity'", "metrics.x in (1, NaN)", "metrics.x not in (NaN, -inf)"} {
		got, err := Where(SQLite, expr)
		if err != nil {
			t.Errorf("Where(%q): %v", expr, err)
			continue
		}
		checkComposition(t, expr, got)
	}
	for _, expr := range []string{"metrics.x < NaN", "params.x = NaN", "start_time > -inf", "metrics.x = infinite"} {
		if _, err := Where(SQLite, expr); err == nil {
			t.Errorf("Where(%q) accepted", expr)
		}
	}
}

func TestLongExpressionNotEchoed(t *testing.T) {
	long := "params.x = '" + strings.Repeat("y", 5000) + "' and bogus = 1"
	_, err := Where(SQLite, long)
	if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), "bogus") || !strings.Contains(err.Error(), "5027-byte") {
		t.Errorf("error for a long expression: %.400v (%d bytes)", err, len(err.Error()))
	}
}
