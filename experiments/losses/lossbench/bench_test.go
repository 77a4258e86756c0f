// Package lossbench times the style losses as the application runs them: float32 on the pure-Go backend with
// experiments/nn imported, whose init replaces GoMLX's DotGeneral gradient (the stock one materialises an
// [M,M,N] tensor for a kernel matrix: 17 GB RSS and ~3 minutes at M = 4096). It is a separate test binary so
// that the losses package's own tests keep exercising the stock gradients.
//
//	go test -run XXX -bench . -benchtime 2x ./experiments/losses/lossbench
//	LOSSBENCH_SIDE=64 go test -run XXX -bench . -benchtime 1x ./experiments/losses/lossbench   # slower
package lossbench_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/gomlx/gomlx/backends"
	_ "github.com/gomlx/gomlx/backends/simplego"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck
	"github.com/gomlx/gomlx/pkg/core/tensors"

	"github.com/stylelab/stylelab/experiments/losses"
	_ "github.com/stylelab/stylelab/experiments/nn" // its DotGeneral gradient, as in the application
)

// BenchmarkStyleLoss times one loss-and-gradient evaluation of every registered style loss with default options
// on random ReLU-like features of N = 64 channels (relu1_1's width) over a side×side grid (default 32, so
// M = 1024, the largest exact kernel size by default; LOSSBENCH_SIDE overrides).
func BenchmarkStyleLoss(b *testing.B) {
	side := 32
	if v, err := strconv.Atoi(os.Getenv("LOSSBENCH_SIDE")); err == nil && v > 0 {
		side = v
	}
	be, err := backends.NewWithConfig("go:ops_sequential")
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	mk := func() *tensors.Tensor {
		v := make([]float32, side*side*64)
		for i := range v {
			v[i] = float32(max(0, r.NormFloat64()+0.3))
		}
		return tensors.FromFlatDataAndDimensions(v, 1, side, side, 64)
	}
	ft, st := mk(), mk()
	for _, name := range losses.Names {
		b.Run(fmt.Sprintf("%s/M=%d", name, side*side), func(b *testing.B) {
			loss, err := losses.Style(name, losses.DefaultOptions())
			if err != nil {
				b.Fatal(err)
			}
			exec, err := NewExec(be, func(F, S *Node) (*Node, *Node) {
				l := loss(F, S)
				return l, Gradient(l, F)[0]
			})
			if err != nil {
				b.Fatal(err)
			}
			defer exec.Finalize()
			if _, err := exec.Exec(ft, st); err != nil { // compile and warm up
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				out, err := exec.Exec(ft, st)
				if err != nil {
					b.Fatal(err)
				}
				for _, o := range out {
					o.FinalizeAll()
				}
			}
		})
	}
}
