package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stylelab/stylelab/tracker"
)

// fillDashboardDB records two small runs (with a PNG each) in a new database and returns its path and ids.
func fillDashboardDB(t *testing.T) (string, []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "runs", "stylelab.db")
	st, err := tracker.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var ids []string
	for i, lr := range []string{"0.5", "1"} {
		r, err := st.StartRun("cli", "lr-"+lr, tracker.WithoutProvenance())
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID())
		if err := r.LogParams(map[string]string{"lr": lr, "loss": "gram"}); err != nil {
			t.Fatal(err)
		}
		for s := 0; s < 20; s++ {
			if err := r.LogMetric("total", int64(s), float64(100*(i+1))/float64(s+1)); err != nil {
				t.Fatal(err)
			}
		}
		im := image.NewRGBA(image.Rect(0, 0, 8, 8))
		for p := range im.Pix {
			im.Pix[p] = uint8(60 * (i + 1))
		}
		im.Set(0, 0, color.White)
		var b bytes.Buffer
		png.Encode(&b, im)
		if _, err := r.LogArtifact("output.png", "image/png", b.Bytes()); err != nil {
			t.Fatal(err)
		}
		if err := r.End(nil); err != nil {
			t.Fatal(err)
		}
	}
	return path, ids
}

// lockedBuffer is a bytes.Buffer safe to read while serve writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// startServe runs serve in the background until the test ends and returns the URL it printed.
func startServe(t *testing.T, args ...string) (url string, stderr *lockedBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stderr = &lockedBuffer{}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, args, pw, stderr); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after Ctrl-C, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("serve did not stop within 10 s of its context ending")
		}
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("serve printed no URL: %v (stderr %s)", err, stderr.String())
	}
	go io.Copy(io.Discard, pr)
	m := regexp.MustCompile(`http://[0-9.:\[\]]+/`).FindString(line)
	if m == "" {
		t.Fatalf("no URL in %q", line)
	}
	return m, stderr
}

func TestServeLoopback(t *testing.T) {
	db, ids := fillDashboardDB(t)
	url, stderr := startServe(t, "--db", db, "--addr", "127.0.0.1:0")
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Errorf("URL %s is not on 127.0.0.1", url)
	}
	if strings.Contains(stderr.String(), "warning") {
		t.Errorf("loopback address gave a warning: %s", stderr.String())
	}
	resp, err := http.Get(url + "compare?ids=" + ids[0] + "," + ids[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "lr-0.5") || !strings.Contains(string(body), `class="differ"`) {
		t.Errorf("compare page: %d", resp.StatusCode)
	}
	resp, err = http.Post(url+"api/runs", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405 (read-only)", resp.StatusCode)
	}
	// DNS-rebinding defence is on for a loopback listener.
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = "attacker.example"
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host header: %d, want 421", resp.StatusCode)
	}
}

func TestServeAllInterfacesWarns(t *testing.T) {
	db, _ := fillDashboardDB(t)
	url, stderr := startServe(t, "--db", db, "--addr", "0.0.0.0:0")
	if !strings.Contains(stderr.String(), "warning: --addr 0.0.0.0:0 is not a loopback address") {
		t.Errorf("no warning for 0.0.0.0: %q", stderr.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET / = %d", resp.StatusCode)
	}
}

func TestServeErrors(t *testing.T) {
	ctx := context.Background()
	var out, errb bytes.Buffer
	cases := []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"--addr", "8080"}, true, "--addr must be HOST:PORT"},
		{[]string{"extra"}, true, "no arguments"},
		{[]string{"--db", filepath.Join(t.TempDir(), "none.db")}, false, "no database"},
	}
	for _, c := range cases {
		err := serve(ctx, c.args, &out, &errb)
		var ue usageError
		isUsage := err != nil && errors.As(err, &ue)
		if err == nil || isUsage != c.usage || !strings.Contains(err.Error(), c.want) {
			t.Errorf("serve %v: %v (usage %v), want %q (usage %v)", c.args, err, isUsage, c.want, c.usage)
		}
	}
	db, _ := fillDashboardDB(t)
	url, _ := startServe(t, "--db", db, "--addr", "127.0.0.1:0")
	busy := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/")
	if err := serve(ctx, []string{"--db", db, "--addr", busy}, &out, &errb); err == nil || !strings.Contains(err.Error(), "--addr") {
		t.Errorf("a busy port must fail naming --addr, got %v", err)
	}
}
