// Package filter turns MLflow-like run filters and order-by lists into parameterised SQL for the tracker's
// store, in the store's dialect (SQLite or PostgreSQL, see Dialect).
//
//	params.loss = 'gram' and metrics.style_loss < 0.1 and status = 'FINISHED'
//	tags.`provenance.git.dirty` = 'false' or (params.lr in ('0.1', '0.01') and name like 'sweep-%')
//
// It is a hand-written lexer and recursive-descent parser: no Go library implements MLflow's filter
// grammar (MLflow itself uses Python's sqlparse), and the grammar is small. docs/filter.md is the user's
// reference, with every difference from MLflow's filter in one table.
//
// Grammar (keywords and prefixes are case-insensitive):
//
//	expr       := and { OR and }
//	and        := unary { AND unary }
//	unary      := NOT unary | '(' expr ')' | comparison
//	comparison := field op value | field [NOT] IN '(' value { ',' value } ')'
//	op         := = | == | != | <> | < | <= | > | >= | LIKE | ILIKE
//	field      := PREFIX.KEY | [ATTRPREFIX.]ATTR       (a prefix may be backtick-quoted: `metric`.loss)
//	PREFIX     := params | param | parameters | parameter | tags | tag | metrics | metric
//	ATTRPREFIX := attributes | attribute | attr | run
//	KEY        := name with dots (params.style.weight) | `quoted key` | "quoted key"
//	ATTR       := status | name (run_name) | experiment (experiment_name) | id (run_id) | start_time | end_time
//	value      := 'string' | "string" | number
//	number     := decimal literal | NaN | Inf | Infinity, optionally signed, any case (quoted too, for metrics)
//
// Semantics: metrics.X compares the latest value (the one at the highest step) of metric X, which must be a
// number: finite, or ±Inf (ordered below and above every finite value). A NaN latest value matches only
// metrics.X = NaN (metrics.X != NaN matches every other value, and metrics.X IN (…, NaN) matches it); it
// matches no other comparison, and < <= > >= with NaN are refused. params.X and tags.X compare strings with
// = != LIKE ILIKE IN, and a run lacking the key never matches (NOT in front of the comparison does). An
// unquoted number compared with a param, tag or string attribute is refused (params are the text logged:
// "0.10" and "1e-1" are not "0.1"), with the two fixes in the message: quote it, or log it as a metric.
// LIKE is case-sensitive with % (any run of characters) and _ (one character); ILIKE ignores ASCII case.
// status = != IN take a status name in any case ('finished' is FINISHED) and refuse unknown names; status
// LIKE/ILIKE take a pattern, matched against the upper-case names. id = != IN take a run id in the store's
// form or MLflow's (32 hex digits, no dashes) in any case (CanonicalID). start_time and end_time compare
// with a number of milliseconds since the Unix epoch or a date string ('2024-05-01', '2024-05-01 14:00',
// RFC 3339; local time unless a zone is given).
//
// The generated SQL text is made only of the fixed fragments declared in this package and '?' placeholders;
// every key, string and number of the expression travels in Args. It assumes the tracker's query shape:
// alias r for the runs row (columns rid, id, name, status, start_ms, end_ms), alias e for its experiment
// (column name), and tables params(run, key, value), tags(run, key, value) and
// latest_metrics(run, key, value, nonfinite).
package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SQL is a fragment of parameterised SQL: Text holds one '?' per element of Args, in order.
type SQL struct {
	Text string
	Args []any
}

// Error is a parse error of a filter or order-by expression. Pos is the byte offset of the offending token.
type Error struct {
	Pos  int
	Msg  string
	Expr string // the whole expression, set by Where and OrderBy
}

func (e *Error) Error() string {
	if e.Expr == "" {
		return fmt.Sprintf("filter: %s (at position %d)", e.Msg, e.Pos)
	}
	return fmt.Sprintf("filter: %s (at position %d in %s)", e.Msg, e.Pos, excerpt(e.Expr, e.Pos))
}

// excerpt quotes expr whole when it is at most 80 bytes, else the 30 bytes or so either side of pos, marked
// with "…" and followed by the expression's length: an error never echoes a long expression back in full.
func excerpt(expr string, pos int) string {
	if len(expr) <= 80 {
		return strconv.Quote(expr)
	}
	pos = max(0, min(pos, len(expr)))
	lo, hi := max(0, pos-30), min(len(expr), pos+30)
	for lo > 0 && !utf8.RuneStart(expr[lo]) {
		lo--
	}
	for hi < len(expr) && !utf8.RuneStart(expr[hi]) {
		hi++
	}
	out := strconv.Quote(expr[lo:hi])
	if lo > 0 {
		out = "…" + out
	}
	if hi < len(expr) {
		out += "…"
	}
	return fmt.Sprintf("%s of a %d-byte expression", out, len(expr))
}

// Limits that keep a hostile or accidental expression from building huge SQL or deep recursion.
const (
	MaxLen   = 10000 // bytes of expression
	MaxDepth = 50    // nesting of parentheses and NOT
	MaxArgs  = 2000  // placeholders in one statement
)

// Attributes are the run attributes a filter or order-by can name without a prefix.
var Attributes = []string{"status", "name", "experiment", "id", "start_time", "end_time"}

// Statuses are the run statuses a status comparison accepts.
var Statuses = []string{"RUNNING", "FINISHED", "FAILED", "KILLED"}

type fieldKind int

const (
	fieldParam fieldKind = iota
	fieldTag
	fieldMetric
	fieldAttr
)

type field struct {
	kind fieldKind
	key  string // the key of a param/tag/metric, or the canonical attribute name
	pos  int
}

func (f field) String() string {
	switch f.kind {
	case fieldParam:
		return "params." + f.key
	case fieldTag:
		return "tags." + f.key
	case fieldMetric:
		return "metrics." + f.key
	}
	return f.key
}

// Abstract syntax tree of a filter.
type (
	node    interface{ isNode() }
	andNode struct{ l, r node }
	orNode  struct{ l, r node }
	notNode struct{ x node }
	cmpNode struct {
		f    field
		op   string  // "=", "!=", "<", "<=", ">", ">=", "LIKE", "ILIKE", "IN", "NOT IN"
		vals []token // one value, or the IN list
	}
)

func (andNode) isNode() {}
func (orNode) isNode()  {}
func (notNode) isNode() {}
func (cmpNode) isNode() {}

type parser struct {
	toks  []token
	i     int
	depth int
	nargs int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

// keyword reports whether the next token is the (case-insensitive) keyword kw.
func (p *parser) keyword(kw string) bool {
	t := p.peek()
	return t.kind == tokIdent && strings.EqualFold(t.text, kw)
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return &Error{Pos: t.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) enter(t token) error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf(t, "expression nested more than %d levels deep", MaxDepth)
	}
	return nil
}

func (p *parser) parseOr() (node, error) {
	l, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		p.next()
		r, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *parser) parseAnd() (node, error) {
	l, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		p.next()
		r, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *parser) parseUnary() (node, error) {
	t := p.peek()
	switch {
	case p.keyword("not"):
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		x, err := p.parseUnary()
		p.depth--
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	case t.kind == tokLParen:
		p.next()
		if err := p.enter(t); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		p.depth--
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, p.errorf(c, "expected ')' to close the '(' at position %d, got %s", t.pos, c.describe())
		}
		return x, nil
	}
	return p.parseComparison()
}

// parseField reads params.KEY, tags.KEY, metrics.KEY or an attribute.
func (p *parser) parseField() (field, error) {
	t := p.next()
	switch t.kind {
	case tokIdent:
	case tokString, tokNumber:
		return field{}, p.errorf(t, "expected a field such as params.NAME, metrics.NAME, tags.NAME or status, got the value %s", t.describe())
	case tokQIdent:
		return field{}, p.errorf(t, "a quoted key needs a prefix: params.`%s`, tags.`%s` or metrics.`%s`", t.text, t.text, t.text)
	default:
		return field{}, p.errorf(t, "expected a field such as params.NAME, metrics.NAME, tags.NAME or status, got %s", t.describe())
	}
	for _, kw := range []string{"and", "or", "not", "in", "like", "ilike"} {
		if strings.EqualFold(t.text, kw) {
			return field{}, p.errorf(t, "expected a field, got the keyword %s", strings.ToUpper(kw))
		}
	}
	prefix, key, hasDot := strings.Cut(t.text, ".")
	if t.prefix != "" { // `prefix`.key: the quoted prefix may itself hold a dot
		prefix, key, hasDot = t.prefix, t.text[len(t.prefix)+1:], true
	}
	if !hasDot {
		return p.attribute(t, t.text)
	}
	if key == "" {
		// "params." followed by a quoted key.
		k := p.next()
		if k.kind != tokQIdent && !(k.kind == tokString && k.dq) {
			return field{}, p.errorf(k, "expected a key after %q, such as %s`my-key`", t.text, t.text)
		}
		key = k.text
	}
	f := field{key: key, pos: t.pos}
	switch strings.ToLower(prefix) {
	case "params", "param", "parameters", "parameter":
		f.kind = fieldParam
	case "tags", "tag":
		f.kind = fieldTag
	case "metrics", "metric":
		f.kind = fieldMetric
	case "attributes", "attribute", "attr", "run":
		return p.attribute(t, key)
	default:
		return field{}, p.errorf(t, "unknown field prefix %q: use params., tags., metrics. or attributes. (or no prefix for an attribute)", prefix)
	}
	if key == "" {
		return field{}, p.errorf(t, "empty key after %q", prefix+".")
	}
	if len(key) > 500 {
		return field{}, p.errorf(t, "key longer than 500 bytes")
	}
	return f, nil
}

func (p *parser) attribute(t token, name string) (field, error) {
	canon := map[string]string{
		"status": "status", "name": "name", "run_name": "name", "experiment": "experiment",
		"experiment_name": "experiment", "id": "id", "run_id": "id", "start_time": "start_time",
		"end_time": "end_time",
	}[strings.ToLower(name)]
	if canon == "" {
		return field{}, p.errorf(t, "unknown attribute %q: use one of %s, or params.%s / metrics.%s / tags.%s",
			name, strings.Join(Attributes, ", "), name, name, name)
	}
	return field{kind: fieldAttr, key: canon, pos: t.pos}, nil
}

func (p *parser) parseComparison() (node, error) {
	f, err := p.parseField()
	if err != nil {
		return nil, err
	}
	opTok := p.next()
	var op string
	switch {
	case opTok.kind == tokOp:
		op = opTok.text
	case opTok.kind == tokIdent && (strings.EqualFold(opTok.text, "like") || strings.EqualFold(opTok.text, "ilike") ||
		strings.EqualFold(opTok.text, "in")):
		op = strings.ToUpper(opTok.text)
	case opTok.kind == tokIdent && strings.EqualFold(opTok.text, "not") && p.keyword("in"):
		p.next()
		op = "NOT IN"
	default:
		return nil, p.errorf(opTok, "expected an operator (= != < <= > >= LIKE ILIKE IN) after %s, got %s", f, opTok.describe())
	}
	if err := checkOp(f, op); err != nil {
		return nil, p.errorf(opTok, "%v", err)
	}
	c := cmpNode{f: f, op: op}
	if op == "IN" || op == "NOT IN" {
		if t := p.next(); t.kind != tokLParen {
			return nil, p.errorf(t, "expected '(' after %s, as in %s %s ('a', 'b')", op, f, op)
		}
		for {
			v := metricValue(f, p.next())
			if err := p.checkValue(f, op, v); err != nil {
				return nil, err
			}
			c.vals = append(c.vals, v)
			sep := p.next()
			if sep.kind == tokRParen {
				break
			}
			if sep.kind != tokComma {
				return nil, p.errorf(sep, "expected ',' or ')' in the %s list, got %s", op, sep.describe())
			}
		}
	} else {
		v := metricValue(f, p.next())
		if err := p.checkValue(f, op, v); err != nil {
			return nil, err
		}
		c.vals = []token{v}
	}
	p.nargs += len(c.vals)
	if f.kind != fieldAttr {
		p.nargs++ // the key
	}
	if p.nargs > MaxArgs {
		return nil, p.errorf(opTok, "expression has more than %d values", MaxArgs)
	}
	return c, nil
}

// checkOp rejects operators that make no sense for a field.
func checkOp(f field, op string) error {
	numeric := f.kind == fieldMetric || (f.kind == fieldAttr && (f.key == "start_time" || f.key == "end_time"))
	switch op {
	case "<", "<=", ">", ">=":
		if !numeric {
			return fmt.Errorf("%s compares strings; it supports = != LIKE ILIKE IN, not %s (log a number as a metric to compare it)", f, op)
		}
	case "LIKE", "ILIKE":
		if numeric {
			return fmt.Errorf("%s is a number; it supports = != < <= > >= IN, not %s", f, op)
		}
	case "IN", "NOT IN":
		if f.kind == fieldAttr && (f.key == "start_time" || f.key == "end_time") {
			return fmt.Errorf("%s supports = != < <= > >=, not %s", f, op)
		}
	}
	return nil
}

// metricValue reads the words NaN, Inf and Infinity (optionally signed; unquoted or quoted) as numbers when
// they are compared with a metric.
func metricValue(f field, v token) token {
	if f.kind == fieldMetric && (v.kind == tokIdent || v.kind == tokString) {
		if x, ok := nonFinite(strings.TrimSpace(v.text)); ok {
			return token{kind: tokNumber, text: v.text, num: x, pos: v.pos}
		}
	}
	return v
}

// checkValue checks that token v is a literal suited to field f.
func (p *parser) checkValue(f field, op string, v token) error {
	if v.kind != tokString && v.kind != tokNumber {
		if v.kind == tokIdent {
			return p.errorf(v, "expected a quoted value after %s %s: write '%s'", f, op, v.text)
		}
		return p.errorf(v, "expected a value after %s %s, got %s", f, op, v.describe())
	}
	switch {
	case f.kind == fieldMetric && v.kind != tokNumber:
		return p.errorf(v, "%s compares with a number (or NaN, Inf, -Inf), got the string %q", f, v.text)
	case f.kind == fieldMetric && math.IsNaN(v.num) && (op == "<" || op == "<=" || op == ">" || op == ">="):
		return p.errorf(v, "NaN is not ordered, so %s %s NaN would match nothing: use %s = NaN or %s != NaN", f, op, f, f)
	case (f.key == "start_time" || f.key == "end_time") && f.kind == fieldAttr && v.kind == tokNumber && (math.IsNaN(v.num) || math.IsInf(v.num, 0)):
		return p.errorf(v, "%s: %s is not a time", f, v.text)
	case f.kind == fieldAttr && f.key == "status" && op != "LIKE" && op != "ILIKE":
		// = != IN name a status (any case); a LIKE/ILIKE pattern may match several and is not checked.
		if v.kind != tokString || !validStatus(v.text) {
			return p.errorf(v, "unknown status %s: use one of %s (any case), or a pattern with LIKE/ILIKE", v.describe(), strings.Join(Statuses, ", "))
		}
	case v.kind == tokNumber && (f.kind == fieldParam || f.kind == fieldTag):
		q := "'" + v.text + "'"
		return p.errorf(v, "%s is a string (params and tags are stored as the text logged), so the unquoted number %s is refused: "+
			"quote it to compare the text, %s %s %s (a value logged as \"0.10\" or \"1e-1\" is other text), "+
			"or, to compare numbers, log the value as a metric too and filter on metrics.%s %s %s", f, v.text, f, op, q, f.key, op, v.text)
	case v.kind == tokNumber && f.kind == fieldAttr && f.key != "start_time" && f.key != "end_time":
		return p.errorf(v, "%s is a string: quote the value, %s %s '%s'", f, f, op, v.text)
	case f.kind == fieldAttr && (f.key == "start_time" || f.key == "end_time"):
		if _, err := timeMillis(v); err != nil {
			return p.errorf(v, "%s: %v", f, err)
		}
	}
	return nil
}

func validStatus(s string) bool {
	for _, st := range Statuses {
		if strings.EqualFold(s, st) {
			return true
		}
	}
	return false
}

// timeMillis turns a number (milliseconds since the epoch) or a date string into milliseconds.
func timeMillis(v token) (int64, error) {
	if v.kind == tokNumber {
		if v.num != math.Trunc(v.num) || math.Abs(v.num) > 1<<53 {
			return 0, fmt.Errorf("%s is not a whole number of milliseconds", v.text)
		}
		return int64(v.num), nil
	}
	s := strings.TrimSpace(v.text)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UnixMilli(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, fmt.Errorf("cannot read %q as a time: use milliseconds since the epoch, '2006-01-02', '2006-01-02 15:04' or RFC 3339", s)
}

// Dialect is the SQL flavour a filter is written for: the text of the few fragments that differ between
// the engines. Only the two values SQLite and Postgres exist (its fields are unexported), so the generated
// text is still made only of this package's fixed fragments. The tracker's store dialect holds one.
//
//	            LIKE (case-sensitive)   ILIKE                    +Inf / -Inf literal
//	SQLite      GLOB ? (pattern → glob) LIKE ? (ASCII case)      9e999 / -9e999 (SQLite reads them as ±Inf)
//	Postgres    LIKE ? ESCAPE ''        ILIKE ? ESCAPE ''        'Infinity'::float8 / '-Infinity'::float8
//
// Placeholders are '?' in both: the store numbers them for PostgreSQL ($1, $2, …) when it binds the whole
// statement, since the filter is one part of it.
type Dialect struct {
	name         string
	like, ilike  fragment
	glob         bool // LIKE patterns are rewritten as GLOB patterns (likeToGlob)
	metricValue  fragment
	ordMetric    fragment
	ordMetricNaN fragment
}

// The two dialects.
var (
	SQLite = &Dialect{name: "sqlite", like: fGlob, ilike: fLike, glob: true,
		metricValue: fMetricValue, ordMetric: fOrdMetric, ordMetricNaN: fOrdMetricNaN}
	Postgres = &Dialect{name: "postgres", like: fPgLike, ilike: fPgILike,
		metricValue: fPgMetricValue, ordMetric: fPgOrdMetric, ordMetricNaN: fOrdMetricNaN}
)

// String is the dialect's name: "sqlite" or "postgres".
func (d *Dialect) String() string { return d.name }

// Where parses a filter expression and returns the SQL condition it stands for in dialect d. An empty (or
// all-blank) expression gives an empty SQL.Text, meaning "no condition". Parse errors are *Error.
func Where(d *Dialect, expr string) (SQL, error) {
	if strings.TrimSpace(expr) == "" {
		return SQL{}, nil
	}
	n, err := parse(expr)
	if err != nil {
		return SQL{}, withExpr(err, expr)
	}
	b := builder{d: d}
	b.emit(n)
	return b.sql(), nil
}

func withExpr(err error, expr string) error {
	if e, ok := err.(*Error); ok {
		e.Expr = expr
	}
	return err
}

func parse(expr string) (node, error) {
	if len(expr) > MaxLen {
		return nil, &Error{Pos: MaxLen, Msg: fmt.Sprintf("expression longer than %d bytes", MaxLen)}
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		if t.kind == tokRParen {
			return nil, p.errorf(t, "unbalanced ')'")
		}
		return nil, p.errorf(t, "expected AND, OR or the end of the expression, got %s", t.describe())
	}
	return n, nil
}

// OrderBy parses a comma-separated order-by list such as "metrics.style_loss ASC, start_time DESC" and
// returns the SQL ORDER BY terms for dialect d (without the ORDER BY keyword). Each term is a field as in
// Where with an optional ASC (the default) or DESC. Runs lacking the metric, param or tag sort last either
// way; for a metric, a NaN latest value sorts after every number (±Inf included) and before the runs
// lacking it, in both directions (MLflow's order): the metric's term is two keys, "is it NaN" ascending,
// then the value. Blanks around terms, a trailing one included, are ignored. An empty spec gives an empty
// SQL.Text. Errors are *Error.
func OrderBy(d *Dialect, spec string) (SQL, error) {
	if strings.TrimSpace(spec) == "" {
		return SQL{}, nil
	}
	s, err := orderBy(d, spec)
	if err != nil {
		return SQL{}, withExpr(err, spec)
	}
	return s, nil
}

func orderBy(d *Dialect, spec string) (SQL, error) {
	if len(spec) > MaxLen {
		return SQL{}, &Error{Pos: MaxLen, Msg: fmt.Sprintf("order-by longer than %d bytes", MaxLen)}
	}
	toks, err := lex(spec)
	if err != nil {
		return SQL{}, err
	}
	p := &parser{toks: toks}
	b := builder{d: d}
	for n := 0; ; n++ {
		if n == 20 {
			return SQL{}, p.errorf(p.peek(), "more than 20 order-by terms")
		}
		f, err := p.parseField()
		if err != nil {
			return SQL{}, err
		}
		if n > 0 {
			b.frag(fComma)
		}
		desc := false
		switch {
		case p.keyword("desc"):
			p.next()
			desc = true
		case p.keyword("asc"):
			p.next()
		}
		b.orderTerm(f, desc)
		t := p.next()
		if t.kind == tokEOF {
			break
		}
		if t.kind != tokComma {
			return SQL{}, p.errorf(t, "expected ASC, DESC, ',' or the end of the order-by, got %s", t.describe())
		}
	}
	return b.sql(), nil
}

// fragment is a piece of SQL text. Only the constants below are ever written into a query: user input
// reaches the database only through placeholders (the fuzz test checks that every output is a concatenation of
// these constants).
type fragment string

const (
	fOpen   fragment = "("
	fClose  fragment = ")"
	fAnd    fragment = " AND "
	fOr     fragment = " OR "
	fNot    fragment = "NOT "
	fComma  fragment = ", "
	fParam  fragment = "EXISTS (SELECT 1 FROM params p WHERE p.run = r.rid AND p.key = ? AND p.value"
	fTag    fragment = "EXISTS (SELECT 1 FROM tags t WHERE t.run = r.rid AND t.key = ? AND t.value"
	fMetric fragment = "EXISTS (SELECT 1 FROM latest_metrics m WHERE m.run = r.rid AND m.key = ? AND "
	// fMetricValue is the latest value with ±Inf (stored as NULL with a flag) restored, NaN as NULL.
	fMetricValue   fragment = "(CASE m.nonfinite WHEN 0 THEN m.value WHEN 2 THEN 9e999 WHEN 3 THEN -9e999 END)"
	fPgMetricValue fragment = "(CASE m.nonfinite WHEN 0 THEN m.value WHEN 2 THEN 'Infinity'::float8 WHEN 3 THEN '-Infinity'::float8 END)"
	fIsNaN         fragment = "m.nonfinite = 1"
	fNotNaN        fragment = "m.nonfinite != 1"
	fOrNaN         fragment = " OR m.nonfinite = 1"
	fStatus        fragment = "r.status"
	fName          fragment = "r.name"
	fExp           fragment = "e.name"
	fID            fragment = "r.id"
	fStart         fragment = "r.start_ms"
	fEnd           fragment = "r.end_ms"
	fEq            fragment = " = ?"
	fNe            fragment = " != ?"
	fLt            fragment = " < ?"
	fLe            fragment = " <= ?"
	fGt            fragment = " > ?"
	fGe            fragment = " >= ?"
	fGlob          fragment = " GLOB ?"
	fLike          fragment = " LIKE ?"
	fPgLike        fragment = " LIKE ? ESCAPE ''"
	fPgILike       fragment = " ILIKE ? ESCAPE ''"
	fIn            fragment = " IN ("
	fNotIn         fragment = " NOT IN ("
	fPlace         fragment = "?"

	fOrdParam    fragment = "(SELECT p.value FROM params p WHERE p.run = r.rid AND p.key = ?)"
	fOrdTag      fragment = "(SELECT t.value FROM tags t WHERE t.run = r.rid AND t.key = ?)"
	fOrdMetric   fragment = "(SELECT (CASE m.nonfinite WHEN 0 THEN m.value WHEN 2 THEN 9e999 WHEN 3 THEN -9e999 END) FROM latest_metrics m WHERE m.run = r.rid AND m.key = ?)"
	fPgOrdMetric fragment = "(SELECT (CASE m.nonfinite WHEN 0 THEN m.value WHEN 2 THEN 'Infinity'::float8 WHEN 3 THEN '-Infinity'::float8 END) FROM latest_metrics m WHERE m.run = r.rid AND m.key = ?)"
	// fOrdMetricNaN is 1 for a NaN latest value, 0 for a number, NULL when the run lacks the metric.
	fOrdMetricNaN fragment = "(SELECT (CASE m.nonfinite WHEN 1 THEN 1 ELSE 0 END) FROM latest_metrics m WHERE m.run = r.rid AND m.key = ?)"
	fAsc          fragment = " ASC NULLS LAST"
	fDesc         fragment = " DESC NULLS LAST"
)

// fragments lists every fragment; the tests check outputs against it.
var fragments = []fragment{fOpen, fClose, fAnd, fOr, fNot, fComma, fParam, fTag, fMetric, fStatus, fName, fExp,
	fID, fStart, fEnd, fEq, fNe, fLt, fLe, fGt, fGe, fGlob, fLike, fPgLike, fPgILike, fIn, fNotIn, fPlace,
	fOrdParam, fOrdTag, fOrdMetric, fPgOrdMetric, fOrdMetricNaN, fAsc, fDesc, fMetricValue, fPgMetricValue,
	fIsNaN, fNotNaN, fOrNaN}

var opFragments = map[string]fragment{"=": fEq, "!=": fNe, "<": fLt, "<=": fLe, ">": fGt, ">=": fGe}

var attrFragments = map[string]fragment{"status": fStatus, "name": fName, "experiment": fExp, "id": fID,
	"start_time": fStart, "end_time": fEnd}

type builder struct {
	d    *Dialect
	text strings.Builder
	args []any
}

func (b *builder) frag(f fragment) { b.text.WriteString(string(f)) }

// op writes the comparison operator with its placeholder, in the builder's dialect.
func (b *builder) op(op string) {
	switch op {
	case "LIKE":
		b.frag(b.d.like)
	case "ILIKE":
		b.frag(b.d.ilike)
	default:
		b.frag(opFragments[op])
	}
}

func (b *builder) arg(v any) { b.args = append(b.args, v) }

func (b *builder) sql() SQL { return SQL{Text: b.text.String(), Args: b.args} }

func (b *builder) emit(n node) {
	switch n := n.(type) {
	case andNode:
		b.frag(fOpen)
		b.emit(n.l)
		b.frag(fAnd)
		b.emit(n.r)
		b.frag(fClose)
	case orNode:
		b.frag(fOpen)
		b.emit(n.l)
		b.frag(fOr)
		b.emit(n.r)
		b.frag(fClose)
	case notNode:
		b.frag(fOpen)
		b.frag(fNot)
		b.emit(n.x)
		b.frag(fClose)
	case cmpNode:
		b.comparison(n)
	}
}

func (b *builder) comparison(c cmpNode) {
	if c.f.kind == fieldMetric {
		b.metricComparison(c)
		return
	}
	closing := false
	switch c.f.kind {
	case fieldParam:
		b.frag(fParam)
		b.arg(c.f.key)
		closing = true
	case fieldTag:
		b.frag(fTag)
		b.arg(c.f.key)
		closing = true
	case fieldMetric:
		b.frag(fMetric)
		b.arg(c.f.key)
		closing = true
	case fieldAttr:
		b.frag(attrFragments[c.f.key])
	}
	if c.op == "IN" || c.op == "NOT IN" {
		if c.op == "IN" {
			b.frag(fIn)
		} else {
			b.frag(fNotIn)
		}
		for i, v := range c.vals {
			if i > 0 {
				b.frag(fComma)
			}
			b.frag(fPlace)
			b.arg(value(c.f, c.op, v, b.d.glob))
		}
		b.frag(fClose)
	} else {
		b.op(c.op)
		b.arg(value(c.f, c.op, c.vals[0], b.d.glob))
	}
	if closing {
		b.frag(fClose)
	}
}

// metricComparison writes a comparison of a metric's latest value: NaN by its flag, numbers (±Inf included)
// against fMetricValue.
func (b *builder) metricComparison(c cmpNode) {
	b.frag(fMetric)
	b.arg(c.f.key)
	defer b.frag(fClose)
	if (c.op == "=" || c.op == "!=") && math.IsNaN(c.vals[0].num) {
		if c.op == "=" {
			b.frag(fIsNaN)
		} else {
			b.frag(fNotNaN)
		}
		return
	}
	if c.op != "IN" && c.op != "NOT IN" {
		b.frag(b.d.metricValue)
		b.op(c.op)
		b.arg(c.vals[0].num)
		return
	}
	var nums []float64
	hasNaN := false
	for _, v := range c.vals {
		if math.IsNaN(v.num) {
			hasNaN = true
		} else {
			nums = append(nums, v.num)
		}
	}
	orNaN := hasNaN && c.op == "IN" // NOT IN: a NaN value (NULL) is never in or out of a list, as elsewhere
	if orNaN {
		b.frag(fOpen)
	}
	b.frag(b.d.metricValue)
	if c.op == "IN" {
		b.frag(fIn)
	} else {
		b.frag(fNotIn)
	}
	for i, x := range nums {
		if i > 0 {
			b.frag(fComma)
		}
		b.frag(fPlace)
		b.arg(x)
	}
	b.frag(fClose)
	if orNaN {
		b.frag(fOrNaN)
		b.frag(fClose)
	}
}

// value converts a checked literal into the argument bound for it.
func value(f field, op string, v token, glob bool) any {
	switch {
	case f.kind == fieldMetric:
		return v.num
	case f.kind == fieldAttr && (f.key == "start_time" || f.key == "end_time"):
		ms, _ := timeMillis(v) // checked by checkValue
		return ms
	case f.kind == fieldAttr && f.key == "status" && op != "LIKE" && op != "ILIKE":
		return strings.ToUpper(v.text)
	case f.kind == fieldAttr && f.key == "id" && op != "LIKE" && op != "ILIKE":
		return CanonicalID(v.text)
	case op == "LIKE" && glob:
		return likeToGlob(v.text)
	}
	return v.text
}

// CanonicalID writes a run id the way the store holds it: a UUID in lower case with dashes
// (8-4-4-4-12). MLflow's form, 32 hex digits without dashes, and upper-case UUIDs map to it; any other
// text is returned unchanged (it then matches no run).
func CanonicalID(s string) string {
	hex := func(t string) bool {
		for i := 0; i < len(t); i++ {
			c := t[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
		return true
	}
	switch {
	case len(s) == 32 && hex(s):
		l := strings.ToLower(s)
		return l[0:8] + "-" + l[8:12] + "-" + l[12:16] + "-" + l[16:20] + "-" + l[20:32]
	case len(s) == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' &&
		hex(s[0:8]+s[9:13]+s[14:18]+s[19:23]+s[24:36]):
		return strings.ToLower(s)
	}
	return s
}

// likeToGlob rewrites a case-sensitive LIKE pattern (% any run, _ one character) as an SQLite GLOB pattern
// (* and ?), bracketing GLOB's own special characters so they match literally. SQLite's LIKE ignores case,
// so LIKE is implemented with GLOB to keep MLflow's case-sensitive meaning.
func likeToGlob(pat string) string {
	var b strings.Builder
	for _, r := range pat {
		switch r {
		case '%':
			b.WriteByte('*')
		case '_':
			b.WriteByte('?')
		case '*', '?', '[':
			b.WriteByte('[')
			b.WriteRune(r)
			b.WriteByte(']')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (b *builder) orderTerm(f field, desc bool) {
	dir := fAsc
	if desc {
		dir = fDesc
	}
	switch f.kind {
	case fieldParam:
		b.frag(fOrdParam)
		b.arg(f.key)
	case fieldTag:
		b.frag(fOrdTag)
		b.arg(f.key)
	case fieldMetric:
		b.frag(b.d.ordMetricNaN)
		b.arg(f.key)
		b.frag(fAsc)
		b.frag(fComma)
		b.frag(b.d.ordMetric)
		b.arg(f.key)
	case fieldAttr:
		b.frag(attrFragments[f.key])
	}
	b.frag(dir)
}
