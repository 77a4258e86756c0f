package tracker

import (
	"errors"
	"strings"
	"testing"
)

// TestRedactErr: passwords in error texts — a postgres URL's, or a password= setting's — never reach a
// message. (redactErr used to return the text unchanged.)
func TestRedactErr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`cannot parse postgres://bob:s3cr%40t@db.example:5432/runs: bad port`, `cannot parse postgres://bob:xxxxx@db.example:5432/runs: bad port`},
		{`dial POSTGRESQL://alice:p@ss:w0rd@10.0.0.1/x failed`, `dial POSTGRESQL://alice:xxxxx@10.0.0.1/x failed`},
		{`failed to connect to host=h user=u password=hunter2 database=d`, `failed to connect to host=h user=u password=xxxxx database=d`},
		{`conn string: password = 'two words\' here' sslmode=disable`, `conn string: password = xxxxx sslmode=disable`},
		{`PASSWORD=Secret1 user=x`, `PASSWORD=xxxxx user=x`},
		// Nothing to hide: unchanged.
		{`failed to connect to user=u database=d: dial tcp 127.0.0.1:1: connection refused`, `failed to connect to user=u database=d: dial tcp 127.0.0.1:1: connection refused`},
		{`postgres://u@host:5432/db is down`, `postgres://u@host:5432/db is down`},
	} {
		if got := redactErr(errors.New(c.in)); got != c.want {
			t.Errorf("redactErr(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
	// The messages built from driver errors carry the redacted text.
	msg := unreachable("postgres://bob:xxxxx@h/db", errors.New("cannot dial postgres://bob:topsecret@h/db")).Error()
	if strings.Contains(msg, "topsecret") || !strings.Contains(msg, "bob:xxxxx@h") {
		t.Errorf("unreachable message %q", msg)
	}
	if e, ok := describePostgres(errors.New("connection refused by postgres://bob:topsecret@h/db"), "h"); !ok || strings.Contains(e.Error(), "topsecret") {
		t.Errorf("describePostgres = %v, %v", e, ok)
	}
}

// TestUnreachableURLHidesPassword: opening an unreachable server never echoes the password given.
func TestUnreachableURLHidesPassword(t *testing.T) {
	_, err := Open("postgres://bob:topsecret@127.0.0.1:1/db?connect_timeout=1")
	if err == nil || strings.Contains(err.Error(), "topsecret") {
		t.Errorf("Open error %v", err)
	}
}
