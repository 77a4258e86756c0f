package tracker

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestBindPlaceholders checks the one pass that changes a statement's text: PostgreSQL's placeholder
// numbering, which never touches quoted text. SQLite statements are passed through unchanged.
func TestBindPlaceholders(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE x = ? AND y = ?`, `SELECT a FROM t WHERE x = $1 AND y = $2`},
		{`SELECT ?2, ?1, ?2`, `SELECT $2, $1, $2`},
		{`SELECT '?' || "a?b" || ? FROM t WHERE s LIKE ? ESCAPE ''`, `SELECT '?' || "a?b" || $1 FROM t WHERE s LIKE $2 ESCAPE ''`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{`SELECT '9e999 ?1 INDEXED BY i TOTAL(x) json_each(?3)', ?`, `SELECT '9e999 ?1 INDEXED BY i TOTAL(x) json_each(?3)', $1`},
		{`SELECT ?3::json`, `SELECT $3::json`},
	} {
		if got := postgresDialect.bind(c.in); got != c.want {
			t.Errorf("bind(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
		if got := sqliteDialect.bind(c.in); got != c.in {
			t.Errorf("SQLite statement changed: %q", got)
		}
	}
}

// TestDialectStatements: each dialect's statements hold only its own pieces (a PostgreSQL statement with a
// SQLite-only construct would fail on the server, and the other way round).
func TestDialectStatements(t *testing.T) {
	only := map[*dialect][]string{
		sqliteDialect:   {"INDEXED BY", "TOTAL(", "json_each(", "CROSS JOIN"},
		postgresDialect: {"COALESCE(SUM(", "json_array_elements_text(", "::json"},
	}
	for d, own := range only {
		other := only[sqliteDialect]
		if d == sqliteDialect {
			other = only[postgresDialect]
		}
		q := reflect.ValueOf(d.q)
		for i := 0; i < q.NumField(); i++ {
			text := q.Field(i).String()
			for _, w := range other {
				if strings.Contains(text, w) {
					t.Errorf("%s statement %s holds %q: %s", d.name, q.Type().Field(i).Name, w, text)
				}
			}
		}
		all := strings.Join([]string{d.q.counts, d.q.sampleExact, d.q.runCounts}, "\n")
		for _, w := range own {
			if !strings.Contains(all, w) {
				t.Errorf("%s statements lack their %q", d.name, w)
			}
		}
	}
}

// TestConnOnlyBinds: conn and txn expose only methods that bind their statement for the dialect. Embedding
// *sql.DB (as before) also exposed ExecContext, QueryRowContext, BeginTx, … which sent SQLite text to
// PostgreSQL unchanged.
func TestConnOnlyBinds(t *testing.T) {
	methods := func(v any) []string {
		ty := reflect.TypeOf(v)
		var out []string
		for i := 0; i < ty.NumMethod(); i++ {
			out = append(out, ty.Method(i).Name)
		}
		return out
	}
	if got, want := methods(&conn{}), []string{"Begin", "Close", "Exec", "Prepare", "Query", "QueryContext", "QueryRow"}; !slices.Equal(got, want) {
		t.Errorf("conn methods %v, want %v", got, want)
	}
	if got, want := methods(&txn{}), []string{"Commit", "Exec", "Prepare", "Query", "QueryRow", "Rollback"}; !slices.Equal(got, want) {
		t.Errorf("txn methods %v, want %v", got, want)
	}
}

// TestQuotedTextReachesTheServer: text inside quotes, and values holding 9e999 and ?, arrive as written on
// both engines — in a literal of a statement, and as a param value that a filter then finds. (The old
// rewrite turned the 9e999 inside any statement, quotes included, into 'Infinity'::float8.)
func TestQuotedTextReachesTheServer(t *testing.T) { eachBackend(t, testQuotedTextReachesTheServer) }

func testQuotedTextReachesTheServer(t *testing.T, be backend) {
	s := be.newStore(t)
	const lit = `9e999 ? ?1 -9e999 INDEXED BY x TOTAL(y)`
	var got, arg string
	if err := s.db.QueryRow(`SELECT '`+lit+`', ?`, "arg?").Scan(&got, &arg); err != nil {
		t.Fatalf("statement with a quoted 9e999 and ?: %v", err)
	}
	if got != lit || arg != "arg?" {
		t.Errorf("quoted literal came back as %q (arg %q)", got, arg)
	}
	const v = "9e999 ? 'x' ?2 $1"
	r := startRun(t, s, "e", "odd")
	if err := r.LogParams(map[string]string{"weird": v, "9e999?": "k"}); err != nil {
		t.Fatal(err)
	}
	r.SetTag("t", v)
	r.LogMetric("m", 0, 1)
	r.End(nil)
	other := startRun(t, s, "e", "plain")
	other.LogParams(map[string]string{"weird": "9e999"})
	other.End(nil)
	for _, f := range []string{
		`params.weird = '9e999 ? ''x'' ?2 $1'`,
		`params.weird LIKE '9e999 ?%'`,
		`params.weird ILIKE '%? ''X'' ?2%'`,
		`tags.t = "9e999 ? 'x' ?2 $1"`,
		"params.`9e999?` = 'k'",
		`params.weird != '9e999' and metrics.m < 9e99`,
	} {
		runs, err := s.Search(f, "", 0)
		if err != nil {
			t.Errorf("Search(%q): %v", f, err)
			continue
		}
		if len(runs) != 1 || runs[0].Name != "odd" || runs[0].Params["weird"] != v {
			t.Errorf("Search(%q) = %d runs %v, want the run odd with its value intact", f, len(runs), runs)
		}
	}
}
