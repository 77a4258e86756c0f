package filter

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of one lexical token of a filter or order-by expression.
type tokKind int

const (
	tokEOF    tokKind = iota
	tokIdent          // params.loss, status, attributes.start_time, params. (followed by a quoted key)
	tokQIdent         // `a key with-dashes`
	tokString         // 'text' or "text"
	tokNumber         // -1.5e3
	tokOp             // = == != <> < <= > >=
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokKind
	text string  // identifier, unquoted string, operator, or the number as written
	num  float64 // tokNumber only
	pos  int     // byte offset in the expression
	dq   bool    // tokString written with double quotes (usable as a key, like MLflow)
	// prefix is set on a tokIdent whose prefix was backtick-quoted, as in `metric`.a or `tags`.`a b`: text is
	// prefix + "." + the rest (empty when a quoted key follows), so a quoted prefix reads as an unquoted one.
	prefix string
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return strconv.Quote(t.text) + " (string)"
	case tokQIdent:
		return "`" + t.text + "`"
	default:
		return strconv.Quote(t.text)
	}
}

func isIdentStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isIdentChar(c byte) bool { return isIdentStart(c) || ('0' <= c && c <= '9') || c == '.' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// numberStart reports whether a number literal starts at src[i]: a digit, ".5", or a sign followed by either.
func numberStart(src string, i int) bool {
	at := func(k int) byte {
		if k < len(src) {
			return src[k]
		}
		return 0
	}
	c := at(i)
	if c == '+' || c == '-' {
		i++
		c = at(i)
	}
	return isDigit(c) || (c == '.' && isDigit(at(i+1)))
}

// lex splits an expression into tokens. It never panics: every byte is either consumed by a token rule or
// reported as an *Error naming its position.
func lex(src string) ([]token, error) {
	if !utf8.ValidString(src) {
		return nil, &Error{Pos: 0, Msg: "expression is not valid UTF-8"}
	}
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			toks = append(toks, token{kind: tokIdent, text: src[i:j], pos: i})
			i = j
		case c == '`':
			s, n, err := quoted(src, i, '`', false)
			if err != nil {
				return nil, err
			}
			if j := i + n; j < len(src) && src[j] == '.' && s != "" {
				// `prefix`.key: one field token, as MLflow reads it.
				k := j + 1
				for k < len(src) && isIdentChar(src[k]) {
					k++
				}
				toks = append(toks, token{kind: tokIdent, text: s + "." + src[j+1:k], pos: i, prefix: s})
				i = k
				continue
			}
			toks = append(toks, token{kind: tokQIdent, text: s, pos: i})
			i += n
		case c == '\'' || c == '"':
			s, n, err := quoted(src, i, c, true)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tokString, text: s, pos: i, dq: c == '"'})
			i += n
		case (c == '+' || c == '-') && nonFiniteWordAt(src, i+1) > 0:
			n := 1 + nonFiniteWordAt(src, i+1)
			v, _ := nonFinite(src[i : i+n])
			toks = append(toks, token{kind: tokNumber, text: src[i : i+n], num: v, pos: i})
			i += n
		case numberStart(src, i):
			j := i
			if src[j] == '-' || src[j] == '+' {
				j++
			}
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			if j < len(src) && src[j] == '.' {
				j++
				for j < len(src) && isDigit(src[j]) {
					j++
				}
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				k := j + 1
				if k < len(src) && (src[k] == '+' || src[k] == '-') {
					k++
				}
				if k < len(src) && isDigit(src[k]) {
					for k < len(src) && isDigit(src[k]) {
						k++
					}
					j = k
				}
			}
			if j < len(src) && isIdentChar(src[j]) {
				return nil, &Error{Pos: i, Msg: fmt.Sprintf("malformed number %q", src[i:min(j+1, len(src))])}
			}
			text := src[i:j]
			v, err := strconv.ParseFloat(text, 64)
			if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				return nil, &Error{Pos: i, Msg: fmt.Sprintf("number %s is out of the float64 range", text)}
			}
			toks = append(toks, token{kind: tokNumber, text: text, num: v, pos: i})
			i = j
		case c == '=':
			n := 1
			if i+1 < len(src) && src[i+1] == '=' {
				n = 2
			}
			toks = append(toks, token{kind: tokOp, text: "=", pos: i})
			i += n
		case c == '!':
			if i+1 < len(src) && src[i+1] == '=' {
				toks = append(toks, token{kind: tokOp, text: "!=", pos: i})
				i += 2
			} else {
				return nil, &Error{Pos: i, Msg: "unexpected '!': did you mean '!='?"}
			}
		case c == '<':
			switch {
			case i+1 < len(src) && src[i+1] == '=':
				toks = append(toks, token{kind: tokOp, text: "<=", pos: i})
				i += 2
			case i+1 < len(src) && src[i+1] == '>':
				toks = append(toks, token{kind: tokOp, text: "!=", pos: i})
				i += 2
			default:
				toks = append(toks, token{kind: tokOp, text: "<", pos: i})
				i++
			}
		case c == '>':
			if i+1 < len(src) && src[i+1] == '=' {
				toks = append(toks, token{kind: tokOp, text: ">=", pos: i})
				i += 2
			} else {
				toks = append(toks, token{kind: tokOp, text: ">", pos: i})
				i++
			}
		case c == '(':
			toks = append(toks, token{kind: tokLParen, text: "(", pos: i})
			i++
		case c == ')':
			toks = append(toks, token{kind: tokRParen, text: ")", pos: i})
			i++
		case c == ',':
			toks = append(toks, token{kind: tokComma, text: ",", pos: i})
			i++
		default:
			r, _ := utf8.DecodeRuneInString(src[i:])
			hint := ""
			switch c {
			case ';':
				hint = ": a filter is one expression; ';' is not allowed"
			case '-':
				hint = ": comments are not allowed"
			}
			return nil, &Error{Pos: i, Msg: fmt.Sprintf("unexpected character %q%s", r, hint)}
		}
	}
	toks = append(toks, token{kind: tokEOF, pos: len(src)})
	return toks, nil
}

// quoted reads a quoted string or identifier starting at src[start] (the opening quote q). A doubled quote
// stands for one quote character. In strings (escapes=true) a backslash also escapes the quote or a
// backslash; any other backslash is kept as written, so LIKE patterns need no extra escaping.
// It returns the unquoted text and the number of bytes consumed.
func quoted(src string, start int, q byte, escapes bool) (string, int, error) {
	var b strings.Builder
	i := start + 1
	for i < len(src) {
		c := src[i]
		switch {
		case c == q && i+1 < len(src) && src[i+1] == q:
			b.WriteByte(q)
			i += 2
		case c == q:
			return b.String(), i + 1 - start, nil
		case escapes && c == '\\' && i+1 < len(src) && (src[i+1] == q || src[i+1] == '\\'):
			b.WriteByte(src[i+1])
			i += 2
		default:
			b.WriteByte(c)
			i++
		}
	}
	what := "string"
	if q == '`' {
		what = "quoted key"
	}
	return "", 0, &Error{Pos: start, Msg: fmt.Sprintf("unterminated %s: add the closing %c", what, q)}
}

// nonFinite reads NaN, Inf, Infinity (any case, optionally signed) as the float64 it names.
func nonFinite(word string) (float64, bool) {
	sign := 1
	switch {
	case strings.HasPrefix(word, "-"):
		sign, word = -1, word[1:]
	case strings.HasPrefix(word, "+"):
		word = word[1:]
	}
	switch strings.ToLower(word) {
	case "nan":
		return math.NaN(), true
	case "inf", "infinity":
		return math.Inf(sign), true
	}
	return 0, false
}

// nonFiniteWordAt is the length of the unsigned word NaN, Inf or Infinity at src[i:] (0 when there is none
// or it runs on into a longer identifier).
func nonFiniteWordAt(src string, i int) int {
	j := i
	for j < len(src) && isIdentChar(src[j]) {
		j++
	}
	if _, ok := nonFinite(src[i:j]); ok && j > i {
		return j - i
	}
	return 0
}
