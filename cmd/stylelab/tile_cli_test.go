package main

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --tile parses to gatys.Config.Tile; a tile below the halo is a usage error naming the minimum.
func TestRunTileFlag(t *testing.T) {
	for _, tc := range []struct{ arg, want string }{{"auto", ""}, {"off", "off"}, {"256", "256"}} {
		req, err := runConfigFromFlags([]string{"--content", "c.jpg", "--style", "s.jpg", "--out", "o.png", "--tile", tc.arg})
		if err != nil {
			t.Fatal(err)
		}
		if req.Config.Tile != tc.want {
			t.Errorf("--tile %s: Config.Tile %q, want %q", tc.arg, req.Config.Tile, tc.want)
		}
	}
	for _, tc := range []struct{ arg, want string }{{"48", "minimum tile for layers up to relu5_1 is 96"}, {"100", "use 96 or 112"}, {"big", "use auto, off"}} {
		_, err := runConfigFromFlags([]string{"--content", "c.jpg", "--style", "s.jpg", "--out", "o.png", "--tile", tc.arg})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--tile %s: %v, want it to say %q", tc.arg, err, tc.want)
		}
	}
}

// End to end: a tiled run writes its image and records the tiling; a too-small tile exits 2 with nothing written.
func TestRunTiledEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "o.png")
	r := runStylelab(t, nil, "run", "--content", testContent, "--style", testStyle, "--size", "64", "--steps", "1", "--out", out,
		"--no-track", "--tile", "16", "--png16", "--style-layers", "relu1_1,relu2_1", "--content-layers", "relu2_2")
	if r.code != 0 {
		t.Fatalf("tiled run failed (%d): %s", r.code, r.stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	switch dec.(type) {
	case *image.NRGBA64, *image.RGBA64: // opaque 16-bit PNGs decode as RGBA64
	default:
		t.Errorf("--png16 wrote a %T, want a 16-bit image", dec)
	}
	bad := filepath.Join(dir, "bad.png")
	r = runStylelab(t, nil, "run", "--content", testContent, "--style", testStyle, "--size", "64", "--steps", "1", "--out", bad, "--no-track", "--tile", "32")
	if r.code != 2 || !strings.Contains(r.stderr, "minimum tile") {
		t.Errorf("tile 32 with relu5_1: exit %d, %s", r.code, r.stderr)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Error("a refused tiled run wrote its output")
	}
}
