package train

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/experiments/imageio"
	"github.com/stylelab/stylelab/experiments/transformer"
)

// untrainedModel is a Model of a freshly initialised s-style tiny transformer (seeded, so its styles differ).
func untrainedModel(t *testing.T, s int) *Model {
	t.Helper()
	arch := transformer.Arch{Styles: s, Width: 0.125, ResBlocks: 1}
	ctx := context.New()
	if err := transformer.Init(ctx, arch, 7); err != nil {
		t.Fatal(err)
	}
	h := &Header{Kind: KindCIN, Architecture: Architecture{Transformer: &arch}, Loss: "gram"}
	for k := range s {
		h.Styles = append(h.Styles, StyleRef{Name: fmt.Sprint("s", k)})
	}
	data, err := Encode(ctx, h, false)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := DecodeCheckpoint("untrained", data)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewModel(ck, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

// Interpolate gives, tile by tile, what stylising each row as one batch and laying the rows out with Grid gave
// (the runner's former way, which held every row's batch at once), for a strip and a 4-style grid; the mixes are
// the bilinear weights. Outputs over MaxInterpolatePixels — the 4-style grid at 64 steps of 128 px and
// its 64-step strip of 1024 px, which went past 5 GB — are refused at once with the sizes, before any tile is
// computed. (#21 item 10.)
func TestInterpolateStreamsTilesWithinABudget(t *testing.T) {
	m := untrainedModel(t, 4)
	content := gradient(22, 17) // fitted to 20×16
	for _, styles := range [][]int{{0, 3}, {0, 1, 2, 3}} {
		const steps = 3
		got, n, err := m.Interpolate(content, styles, steps)
		if err != nil {
			t.Fatal(err)
		}
		mixes, err := InterpolateMixes(styles, steps, 4)
		if err != nil {
			t.Fatal(err)
		}
		var rows [][]*imageio.Image
		for _, row := range mixes {
			cs := make([]*imageio.Image, len(row))
			for i := range cs {
				cs[i] = content
			}
			ims, err := m.Stylize(cs, row)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, ims)
		}
		want := Grid(rows, InterpolatePad)
		if n != len(mixes)*steps || got.W != want.W || got.H != want.H || !slicesEqualBits(got.Pix, want.Pix) {
			t.Errorf("styles %v: %d tiles, %d×%d; the row-batched grid is %d×%d; same pixels: %v", styles, n, got.W, got.H, want.W, want.H,
				got.W == want.W && got.H == want.H && slicesEqualBits(got.Pix, want.Pix))
		}
	}
	mixes, _ := InterpolateMixes([]int{0, 1, 2, 3}, 3, 4)
	if centre := mixes[1][1]; centre[0] != 0.25 || centre[1] != 0.25 || centre[2] != 0.25 || centre[3] != 0.25 {
		t.Errorf("grid centre mix %v, want ¼ each", centre)
	}
	for _, c := range []struct {
		styles      []int
		steps, size int
	}{{[]int{0, 1, 2, 3}, 64, 128}, {[]int{0, 1}, 64, 1024}} {
		big := imageio.New(c.size, c.size)
		_, _, err := m.Interpolate(big, c.styles, c.steps)
		if err == nil || !strings.Contains(err.Error(), "megapixel limit") || !strings.Contains(err.Error(), "fewer steps") {
			t.Errorf("%d styles, %d steps, %d px: %v", len(c.styles), c.steps, c.size, err)
		}
	}
	if _, _, err := m.Interpolate(content, []int{0, 4}, 3); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("style 4 of 4: %v", err)
	}
}
