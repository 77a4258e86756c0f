package runner

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An output is never written through a fixed OUT.tmp name: a symlink planted there (another user's trap in a
// shared folder) is not followed, a user's own file of that name is not destroyed, and a failed write leaves
// no temporary file behind.
func TestWriteFileNoFixedTemp(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(dir, "victim.txt")
	if err := os.WriteFile(victim, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "result.png")
	if err := os.Symlink(victim, out+".tmp"); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(dir, "other.png")
	if err := os.WriteFile(user+".tmp", []byte("the user's own file"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{out, user} {
		if err := writeFile(p, []byte("PNG bytes of "+p)); err != nil {
			t.Fatal(err)
		}
		if b, err := os.ReadFile(p); err != nil || string(b) != "PNG bytes of "+p {
			t.Fatalf("%s: %q, %v", p, b, err)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o044 == 0 {
			t.Fatalf("%s: mode %v, %v (outputs are 0644)", p, fi.Mode(), err)
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious" {
		t.Fatalf("the symlink at result.png.tmp was followed: victim now holds %q", b)
	}
	if fi, err := os.Lstat(out + ".tmp"); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the planted symlink was replaced: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(user + ".tmp"); !bytes.Equal(b, []byte("the user's own file")) {
		t.Fatalf("the user's other.png.tmp was overwritten: %q", b)
	}
	// Overwriting an existing output works (the rename replaces it).
	if err := writeFile(out, []byte("second")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != "second" {
		t.Fatalf("second write: %q", b)
	}
	// A failed write (the output path is a folder) is an error naming it and leaves no temporary file.
	folder := filepath.Join(dir, "folder.png")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(folder, []byte("x")); err == nil || !strings.Contains(err.Error(), "folder.png") {
		t.Fatalf("writing over a folder: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
