package nn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// refConv2D is a direct plain-Go cross-correlation: x NHWC, k HWIO, zero padding pad, stride s.
func refConv2D(x, k arr, s, pad int) arr {
	b, h, w, cin := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
	kh, kw, cout := k.dims[0], k.dims[1], k.dims[3]
	ho, wo := (h+2*pad-kh)/s+1, (w+2*pad-kw)/s+1
	y := arr{dims: []int{b, ho, wo, cout}, data: make([]float64, b*ho*wo*cout)}
	for bb := range b {
		for i := range ho {
			for j := range wo {
				for o := range cout {
					sum := 0.0
					for u := range kh {
						for v := range kw {
							yy, xx := i*s-pad+u, j*s-pad+v
							if yy < 0 || yy >= h || xx < 0 || xx >= w {
								continue
							}
							for c := range cin {
								sum += x.data[x.at4(bb, yy, xx, c)] * k.data[((u*kw+v)*cin+c)*cout+o]
							}
						}
					}
					y.data[y.at4(bb, i, j, o)] = sum
				}
			}
		}
	}
	return y
}

func TestConv2DMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct{ b, h, w, cin, cout, kh, kw, s, p int }{
		{1, 5, 5, 2, 3, 3, 3, 1, 1},   // VGG-style same conv
		{2, 6, 7, 3, 2, 3, 3, 2, 1},   // stride 2, odd width, batch 2
		{1, 9, 8, 2, 2, 5, 5, 2, 2},   // 5×5 stride 2 pad 2
		{1, 6, 5, 3, 4, 3, 3, 1, 0},   // valid conv
		{2, 4, 4, 3, 5, 1, 1, 1, 0},   // 1×1 shortcut path
		{1, 7, 6, 2, 3, 2, 3, 3, 1},   // non-square kernel, stride 3
		{1, 10, 10, 1, 1, 9, 9, 1, 4}, // 9×9 (feed-forward first layer)
	}
	for _, tc := range cases {
		name := fmt.Sprintf("%+v", tc)
		x := randArr(rng, tc.b, tc.h, tc.w, tc.cin)
		k := randArr(rng, tc.kh, tc.kw, tc.cin, tc.cout)
		got := run1(t, func(in []*graph.Node) *graph.Node { return Conv2D(in[0], in[1], tc.s, tc.p) }, x, k)
		assertClose(t, name, got, refConv2D(x, k, tc.s, tc.p), 1e-12, 1e-12)
	}
}

func TestConv2DFloat32(t *testing.T) {
	// The production dtype: same reference, float32 tolerance.
	rng := rand.New(rand.NewPCG(4, 2))
	x := randArr(rng, 1, 6, 6, 4)
	k := randArr(rng, 3, 3, 4, 3)
	got := run1(t, func(in []*graph.Node) *graph.Node {
		y := Conv2D(graph.ConvertDType(in[0], dtypes.Float32), graph.ConvertDType(in[1], dtypes.Float32), 1, 1)
		if y.DType() != dtypes.Float32 {
			t.Errorf("Conv2D of float32 inputs returned %s", y.DType())
		}
		return graph.ConvertDType(y, dtypes.Float64)
	}, x, k)
	assertClose(t, "float32 conv", got, refConv2D(x, k, 1, 1), 1e-5, 1e-5)
}

func TestConv2DGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct{ s, p, k int }{{1, 1, 3}, {2, 1, 3}, {2, 0, 2}, {1, 0, 1}} {
		x := randArr(rng, 2, 5, 6, 2)
		k := randArr(rng, tc.k, tc.k, 2, 3)
		checkGradient(t, fmt.Sprintf("Conv2D%+v", tc), func(in []*graph.Node) *graph.Node {
			return Conv2D(in[0], in[1], tc.s, tc.p)
		}, []arr{x, k}, 40)
	}
}

func TestConv2DPanicsOnBadShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for _, tc := range []struct {
		name  string
		x, k  arr
		s, p  int
		field string
	}{
		{"channel mismatch", randArr(rng, 1, 4, 4, 2), randArr(rng, 3, 3, 3, 1), 1, 1, "input channels"},
		{"too small", randArr(rng, 1, 2, 2, 1), randArr(rng, 5, 5, 1, 1), 1, 0, "smaller than the kernel"},
		{"stride 0", randArr(rng, 1, 4, 4, 1), randArr(rng, 3, 3, 1, 1), 0, 1, "stride must be"},
	} {
		err := graphBuildError(func(in []*graph.Node) *graph.Node { return Conv2D(in[0], in[1], tc.s, tc.p) }, tc.x, tc.k)
		if err == nil || !contains(err.Error(), tc.field) {
			t.Errorf("%s: error %v, want one mentioning %q", tc.name, err, tc.field)
		}
	}
}

func refPool(x arr, isMax bool) arr {
	b, h, w, c := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
	y := arr{dims: []int{b, h / 2, w / 2, c}, data: make([]float64, b*(h/2)*(w/2)*c)}
	for bb := range b {
		for i := range h / 2 {
			for j := range w / 2 {
				for cc := range c {
					vals := []float64{x.data[x.at4(bb, 2*i, 2*j, cc)], x.data[x.at4(bb, 2*i+1, 2*j, cc)],
						x.data[x.at4(bb, 2*i, 2*j+1, cc)], x.data[x.at4(bb, 2*i+1, 2*j+1, cc)]}
					v := 0.0
					if isMax {
						v = math.Max(math.Max(vals[0], vals[1]), math.Max(vals[2], vals[3]))
					} else {
						v = (vals[0] + vals[1] + vals[2] + vals[3]) / 4
					}
					y.data[y.at4(bb, i, j, cc)] = v
				}
			}
		}
	}
	return y
}

func TestPoolingMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, d := range [][]int{{1, 4, 6, 3}, {2, 5, 7, 2}, {1, 3, 2, 1}} { // even, odd×odd, odd×even
		x := randArr(rng, d...)
		gotMax := run1(t, func(in []*graph.Node) *graph.Node { return MaxPool2x2(in[0]) }, x)
		assertClose(t, fmt.Sprint("max", d), gotMax, refPool(x, true), 0, 0)
		gotAvg := run1(t, func(in []*graph.Node) *graph.Node { return AvgPool2x2(in[0]) }, x)
		assertClose(t, fmt.Sprint("avg", d), gotAvg, refPool(x, false), 1e-15, 1e-15)
	}
}

func TestPoolingGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 1))
	for _, d := range [][]int{{2, 4, 4, 2}, {1, 5, 3, 2}} {
		x := randArr(rng, d...)
		checkGradient(t, fmt.Sprint("MaxPool2x2", d), func(in []*graph.Node) *graph.Node { return MaxPool2x2(in[0]) }, []arr{x}, 60)
		checkGradient(t, fmt.Sprint("AvgPool2x2", d), func(in []*graph.Node) *graph.Node { return AvgPool2x2(in[0]) }, []arr{x}, 60)
	}
}

func TestCropTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 9))
	x := randArr(rng, 2, 5, 4, 3)
	got := run1(t, func(in []*graph.Node) *graph.Node { return CropTo(in[0], 3, 2) }, x)
	want := arr{dims: []int{2, 3, 2, 3}, data: make([]float64, 36)}
	for b := range 2 {
		for i := range 3 {
			for j := range 2 {
				for c := range 3 {
					want.data[want.at4(b, i, j, c)] = x.data[x.at4(b, i, j, c)]
				}
			}
		}
	}
	assertClose(t, "CropTo", got, want, 0, 0)
	checkGradient(t, "CropTo", func(in []*graph.Node) *graph.Node { return CropTo(in[0], 3, 2) }, []arr{x}, 40)
}

func TestReflectPad(t *testing.T) {
	// Reflecting [0 1 2 3] by 2 gives [2 1 0 1 2 3 2 1] (NumPy mode "reflect"); x[r][c] = 10r + c makes
	// every output pixel name its source.
	x := arr{dims: []int{1, 3, 4, 1}, data: []float64{0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23}}
	got := run1(t, func(in []*graph.Node) *graph.Node { return ReflectPad(in[0], 2) }, x)
	rowsIdx := []int{2, 1, 0, 1, 2, 1, 0}
	colsIdx := []int{2, 1, 0, 1, 2, 3, 2, 1}
	want := arr{dims: []int{1, 7, 8, 1}}
	for _, r := range rowsIdx {
		for _, c := range colsIdx {
			want.data = append(want.data, float64(10*r+c))
		}
	}
	assertClose(t, "ReflectPad", got, want, 0, 0)

	rng := rand.New(rand.NewPCG(3, 3))
	xr := randArr(rng, 2, 4, 5, 2)
	checkGradient(t, "ReflectPad", func(in []*graph.Node) *graph.Node { return ReflectPad(in[0], 3) }, []arr{xr}, 40)
}

func TestUpsample2xNearest(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := randArr(rng, 2, 3, 2, 3)
	got := run1(t, func(in []*graph.Node) *graph.Node { return Upsample2xNearest(in[0]) }, x)
	want := arr{dims: []int{2, 6, 4, 3}, data: make([]float64, 2*6*4*3)}
	for b := range 2 {
		for i := range 6 {
			for j := range 4 {
				for c := range 3 {
					want.data[want.at4(b, i, j, c)] = x.data[x.at4(b, i/2, j/2, c)]
				}
			}
		}
	}
	assertClose(t, "Upsample2xNearest", got, want, 0, 0)
	checkGradient(t, "Upsample2xNearest", func(in []*graph.Node) *graph.Node { return Upsample2xNearest(in[0]) }, []arr{x}, 40)
}

// refMeanStd returns per-(b,c) mean and √(biased var + eps).
func refMeanStd(x arr, eps float64) (mean, std []float64) {
	b, h, w, c := x.dims[0], x.dims[1], x.dims[2], x.dims[3]
	mean, std = make([]float64, b*c), make([]float64, b*c)
	for bb := range b {
		for cc := range c {
			s, ss := 0.0, 0.0
			for i := range h {
				for j := range w {
					s += x.data[x.at4(bb, i, j, cc)]
				}
			}
			m := s / float64(h*w)
			for i := range h {
				for j := range w {
					d := x.data[x.at4(bb, i, j, cc)] - m
					ss += d * d
				}
			}
			mean[bb*c+cc], std[bb*c+cc] = m, math.Sqrt(ss/float64(h*w)+eps)
		}
	}
	return
}

func TestInstanceNormAndAdaIN(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	x := randArr(rng, 2, 4, 3, 3)
	for i := range x.data {
		x.data[i] = 5*x.data[i] + 2 // non-zero mean, non-unit std
	}
	const eps = 1e-5
	got := run1(t, func(in []*graph.Node) *graph.Node { return InstanceNorm(in[0], eps) }, x)
	mean, std := refMeanStd(x, eps)
	want := arr{dims: x.dims, data: make([]float64, len(x.data))}
	for i := range x.data {
		bc := (i/(4*3*3))*3 + i%3
		want.data[i] = (x.data[i] - mean[bc]) / std[bc]
	}
	assertClose(t, "InstanceNorm", got, want, 1e-12, 1e-12)

	// AdaIN: with eps → 0 the output has exactly y's channel statistics.
	y := randArr(rng, 2, 5, 2, 3)
	for i := range y.data {
		y.data[i] = 3*y.data[i] - 1
	}
	out := run1(t, func(in []*graph.Node) *graph.Node { return AdaIN(in[0], in[1], 0) }, x, y)
	mo, so := refMeanStd(out, 0)
	my, sy := refMeanStd(y, 0)
	assertClose(t, "AdaIN mean", arr{dims: []int{6}, data: mo}, arr{dims: []int{6}, data: my}, 1e-12, 1e-12)
	assertClose(t, "AdaIN std", arr{dims: []int{6}, data: so}, arr{dims: []int{6}, data: sy}, 1e-12, 1e-12)

	checkGradient(t, "InstanceNorm", func(in []*graph.Node) *graph.Node { return InstanceNorm(in[0], eps) }, []arr{x}, 40)
	checkGradient(t, "AdaIN", func(in []*graph.Node) *graph.Node { return AdaIN(in[0], in[1], eps) }, []arr{x, y}, 40)
}

func TestConditionalInstanceNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	x := randArr(rng, 2, 3, 4, 3)
	gamma := randArr(rng, 4, 3) // S=4 styles
	beta := randArr(rng, 4, 3)
	// Image 0 picks style 2 (one-hot); image 1 mixes styles 0 and 3 with weights 0.25 and 0.75.
	wts := arr{dims: []int{2, 4}, data: []float64{0, 0, 1, 0, 0.25, 0, 0, 0.75}}
	const eps = 1e-5
	got := run1(t, func(in []*graph.Node) *graph.Node {
		return ConditionalInstanceNorm(in[0], in[1], in[2], in[3], eps)
	}, x, gamma, beta, wts)
	norm := run1(t, func(in []*graph.Node) *graph.Node { return InstanceNorm(in[0], eps) }, x)
	want := arr{dims: x.dims, data: make([]float64, len(x.data))}
	for i := range x.data {
		b, c := i/(3*4*3), i%3
		var g, bt float64
		for s := range 4 {
			g += wts.data[b*4+s] * gamma.data[s*3+c]
			bt += wts.data[b*4+s] * beta.data[s*3+c]
		}
		want.data[i] = g*norm.data[i] + bt
	}
	assertClose(t, "ConditionalInstanceNorm", got, want, 1e-12, 1e-12)
	checkGradient(t, "ConditionalInstanceNorm", func(in []*graph.Node) *graph.Node {
		return ConditionalInstanceNorm(in[0], in[1], in[2], in[3], eps)
	}, []arr{x, gamma, beta, wts}, 30)
}

func TestReLUAndBiasAdd(t *testing.T) {
	x := arr{dims: []int{1, 1, 2, 3}, data: []float64{-1, 0.5, 2, 3, -4, 0.25}}
	bias := arr{dims: []int{3}, data: []float64{0.5, -1, 1}}
	got := run1(t, func(in []*graph.Node) *graph.Node { return ReLU(BiasAdd(in[0], in[1])) }, x, bias)
	assertClose(t, "ReLU(BiasAdd)", got, arr{dims: x.dims, data: []float64{0, 0, 3, 3.5, 0, 1.25}}, 0, 0)
	rng := rand.New(rand.NewPCG(1, 7))
	checkGradient(t, "ReLU(BiasAdd)", func(in []*graph.Node) *graph.Node { return ReLU(BiasAdd(in[0], in[1])) },
		[]arr{randArr(rng, 2, 3, 3, 3), randArr(rng, 3)}, 40)
}

func TestConvOutputSize(t *testing.T) {
	for _, tc := range []struct{ in, k, s, p, want int }{
		{224, 3, 1, 1, 224}, {256, 3, 2, 1, 128}, {7, 3, 2, 1, 4}, {2, 5, 1, 0, 0}, {9, 9, 1, 4, 9},
	} {
		if got := ConvOutputSize(tc.in, tc.k, tc.s, tc.p); got != tc.want {
			t.Errorf("ConvOutputSize(%d,%d,%d,%d) = %d, want %d", tc.in, tc.k, tc.s, tc.p, got, tc.want)
		}
	}
}

// TestConcurrentGraphBuilding builds and runs convolution gradients from several goroutines at once, so
// that `go test -race` checks the index cache and the DotGeneral VJP registration for races.
func TestConcurrentGraphBuilding(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			h := 4 + g%2 // two shapes, each shared by four goroutines
			x, k := randArr(rng, 1, h, h, 2), randArr(rng, 3, 3, 2, 2)
			exec, err := graph.NewExec(testBackend(), func(x, k *graph.Node) (*graph.Node, *graph.Node) {
				y := ReflectPad(Conv2D(x, k, 1, 1), 1)
				return y, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, y)), x)[0]
			})
			if err != nil {
				errs <- err
				return
			}
			defer exec.Finalize()
			out, err := exec.Exec(tensors.FromFlatDataAndDimensions(x.data, x.dims...), tensors.FromFlatDataAndDimensions(k.data, k.dims...))
			if err != nil {
				errs <- err
				return
			}
			got := tensors.MustCopyFlatData[float64](out[0])
			want := refConv2D(x, k, 1, 1)
			// Padded pixel (1,1) is convolution output (0,0); padded (0,0) reflects to output (1,1).
			for _, p := range [][2]int{{1, 1}, {0, 0}} {
				src := reflectIndex(p[0]-1, h)
				gv := got[((p[0])*(h+2)+p[1])*2]
				wv := want.data[want.at4(0, src, reflectIndex(p[1]-1, h), 0)]
				if math.Abs(gv-wv) > 1e-12 {
					errs <- fmt.Errorf("goroutine %d: padded conv at %v = %g, want %g", g, p, gv, wv)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
