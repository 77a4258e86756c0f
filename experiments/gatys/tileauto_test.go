package gatys

import (
	"errors"
	"testing"

	"github.com/stylelab/stylelab/backends/backend"
	"github.com/stylelab/stylelab/backends/cpubackend"
)

// TestAutoTileFromMemoryEstimate: "auto" leaves small images untiled and tiles a 4096² image, whose untiled
// evaluation the CPU backend refuses at compile time on a machine of less than ~50 GB, with the largest probed
// tile whose padded window passes the check. Only compiles (PreCompile), never executes.
func TestAutoTileFromMemoryEstimate(t *testing.T) {
	b, info, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*cpubackend.Backend); !ok {
		t.Skipf("backend %s has no memory estimate", info.Name)
	}
	cfg := mustResolve(t, DefaultConfig())
	if tile, err := chooseTile(b, cfg, weights(), 256, 256); err != nil || tile != 0 {
		t.Fatalf("auto at 256²: tile %d, %v; want untiled", tile, err)
	}
	layers := append(append([]string{}, cfg.ContentLayers...), cfg.StyleLayers...)
	fits, est, err := probeFits(b, cfg, weights(), layers, 4096, 4096)
	if fits {
		t.Skip("this machine fits an untiled 4096² evaluation")
	}
	var me *cpubackend.MemoryError
	if !errors.As(err, &me) || est <= 0 {
		t.Fatalf("probe at 4096²: %v (estimate %d)", err, est)
	}
	tile, err := chooseTile(b, cfg, weights(), 4096, 4096)
	if err != nil {
		var se *SizeError
		if errors.As(err, &se) && se.Estimate > 0 && contains(err.Error(), "smallest tile (96 px)") {
			t.Skipf("not even the smallest tile fits here: %v", err)
		}
		t.Fatal(err)
	}
	if tile < 96 || tile%16 != 0 || tile >= 4096 {
		t.Fatalf("auto at 4096²: tile %d", tile)
	}
	if ok, _, err := probeFits(b, cfg, weights(), layers, tile+192, tile+192); !ok {
		t.Fatalf("the chosen tile %d does not fit: %v", tile, err)
	}
	t.Logf("untiled 4096² estimate %.1f GB refused; auto tile %d", float64(est)/(1<<30), tile)
}
