package vgg

import (
	"fmt"
	"image"
	_ "image/jpeg"
	"os"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/stylelab/stylelab/backends/backend"
)

// testBackend is the process backend (backends/backend: stylelab's CPU backend unless GOMLX_BACKEND or a
// PJRT plugin says otherwise).
var testBackend = sync.OnceValue(func() backends.Backend {
	b, _, err := backend.New()
	if err != nil {
		panic(err)
	}
	return b
})

// testWeights caches Random(0), which takes a moment to generate and hash.
var testWeights = sync.OnceValue(func() *Weights { return Random(0) })

// loadTestImage decodes a shipped photograph, crops the central square and box-filters it to size×size,
// returning [1,size,size,3] float32 RGB in [0,1].
func loadTestImage(t testing.TB, path string, size int) *tensors.Tensor {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("test image: %v", err)
	}
	defer f.Close()
	im, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("test image %s: %v", path, err)
	}
	b := im.Bounds()
	side := min(b.Dx(), b.Dy())
	x0, y0 := b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2
	pix := make([]float32, size*size*3)
	for i := range size {
		for j := range size {
			ya, yb := y0+i*side/size, y0+(i+1)*side/size
			xa, xb := x0+j*side/size, x0+(j+1)*side/size
			var s [3]float64
			for y := ya; y < yb; y++ {
				for x := xa; x < xb; x++ {
					r, g, bl, _ := im.At(x, y).RGBA()
					s[0] += float64(r) / 65535
					s[1] += float64(g) / 65535
					s[2] += float64(bl) / 65535
				}
			}
			n := float64((yb - ya) * (xb - xa))
			for c := range 3 {
				pix[(i*size+j)*3+c] = float32(s[c] / n)
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(pix, 1, size, size, 3)
}

// featuresOf runs Features on img for the given layers (in a fresh context) and returns their values.
func featuresOf(t testing.TB, w *Weights, pool Pool, img *tensors.Tensor, layers []string) map[string]*tensors.Tensor {
	t.Helper()
	ctx := context.New()
	exec, err := context.NewExec(testBackend(), ctx, func(ctx *context.Context, img *graph.Node) []*graph.Node {
		f := Features(ctx, w, pool, img, layers)
		out := make([]*graph.Node, len(layers))
		for i, l := range layers {
			out[i] = f[l]
		}
		return out
	})
	if err != nil {
		t.Fatal(err)
	}
	defer exec.Finalize()
	outs, err := exec.Exec(img)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]*tensors.Tensor{}
	for i, l := range layers {
		res[l] = outs[i]
	}
	return res
}

// execError runs fn in a context exec on img and returns the error (or recovered panic), or nil.
func execError(ctx *context.Context, img *tensors.Tensor, fn func(ctx *context.Context, img *graph.Node) *graph.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	exec, err := context.NewExec(testBackend(), ctx, fn)
	if err != nil {
		return err
	}
	defer exec.Finalize()
	_, err = exec.Exec(img)
	return err
}

func shapesOf(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
