package tracker

import "testing"

// TestRewriteForPostgres checks the statement rewriting rules (dialect.go) on small statements; the
// shared store tests run every real statement against a real server.
func TestRewriteForPostgres(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE x = ? AND y = ?`, `SELECT a FROM t WHERE x = $1 AND y = $2`},
		{`SELECT ?2, ?1, ?2`, `SELECT $2, $1, $2`},
		{`SELECT '?' || "a?b" || ? FROM t WHERE s LIKE ? ESCAPE ''`, `SELECT '?' || "a?b" || $1 FROM t WHERE s LIKE $2 ESCAPE ''`},
		{`SELECT COUNT(*) FROM metrics INDEXED BY metrics_by_value WHERE run = ?1`, `SELECT COUNT(*) FROM metrics WHERE run = $1`},
		{`SELECT TOTAL(LENGTH(key)) + TOTAL(step) FROM m`, `SELECT COALESCE(SUM((LENGTH(key))::float8), 0) + COALESCE(SUM((step)::float8), 0) FROM m`},
		{`SELECT g.value FROM json_each(?3) AS g CROSS JOIN metrics AS m
	ON m.step = g.value`, `SELECT g.value FROM (SELECT value::bigint AS value FROM json_array_elements_text($3::json)) AS g JOIN metrics AS m
	ON m.step = g.value`},
		{`CASE WHEN 2 THEN 9e999 WHEN 3 THEN -9e999 END`, `CASE WHEN 2 THEN 'Infinity'::float8 WHEN 3 THEN '-Infinity'::float8 END`},
	} {
		if got := rewrite(dialectPostgres, c.in); got != c.want {
			t.Errorf("rewrite(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
		if got := rewrite(dialectSQLite, c.in); got != c.in {
			t.Errorf("SQLite statement changed: %q", got)
		}
	}
}
