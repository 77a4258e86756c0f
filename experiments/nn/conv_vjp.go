package nn

import (
	"fmt"
	"log"
	"reflect"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// stockConvVJP is GoMLX's own ConvGeneral gradient, kept for the cases ConvVJP does not handle.
var stockConvVJP graph.VJP

var registerConvOnce sync.Once

func init() {
	// Package initialisation runs single-threaded before main (see RegisterDotGeneralVJP).
	RegisterConvVJP()
}

// RegisterConvVJP installs ConvVJP as the gradient of every ConvGeneral node in graph.VJPRegistration. It runs
// at most once per process, and the package's init already calls it.
func RegisterConvVJP() {
	registerConvOnce.Do(func() {
		stockConvVJP = graph.VJPRegistration[graph.NodeTypeConvGeneral]
		graph.VJPRegistration[graph.NodeTypeConvGeneral] = ConvVJP
	})
}

// convParams are the parameters of one ConvGeneral node, read from GoMLX's private node inputs.
type convParams struct {
	axes                       backends.ConvolveAxesConfig
	strides, inDil, kDil       []int
	paddings                   [][2]int
	channelGroups, batchGroups int
}

// readConvParams reads a ConvGeneral node's parameters through reflection (GoMLX v0.26.0 keeps them in the
// unexported nodeInputsConvGeneral, as for DotGeneral; see readDotAxes). Unset strides and dilations come back
// as 1s, unset paddings as 0s.
func readConvParams(node *graph.Node) (p convParams, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading ConvGeneral parameters: %v", r)
		}
	}()
	v := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !v.IsValid() || v.Kind() != reflect.Interface || v.IsNil() {
		return p, fmt.Errorf("graph.Node has no field \"inputs\"")
	}
	in := v.Elem()
	if in.Kind() == reflect.Pointer {
		in = in.Elem()
	}
	if in.Kind() != reflect.Struct || in.Type().Name() != "nodeInputsConvGeneral" {
		return p, fmt.Errorf("ConvGeneral node inputs are %s, not nodeInputsConvGeneral", in.Type())
	}
	S := node.Rank() - 2
	ints := func(f reflect.Value, def int) []int {
		out := make([]int, S)
		for i := range out {
			out[i] = def
			if f.Len() > 0 {
				out[i] = int(f.Index(i).Int())
			}
		}
		return out
	}
	field := func(name string) reflect.Value {
		f := in.FieldByName(name)
		if !f.IsValid() {
			panic(fmt.Sprintf("no field %q", name))
		}
		return f
	}
	ax := field("axes")
	axInt := func(name string) int { return int(ax.FieldByName(name).Int()) }
	axInts := func(name string) []int {
		f := ax.FieldByName(name)
		out := make([]int, f.Len())
		for i := range out {
			out[i] = int(f.Index(i).Int())
		}
		return out
	}
	p.axes = backends.ConvolveAxesConfig{
		InputBatch: axInt("InputBatch"), InputChannels: axInt("InputChannels"), InputSpatial: axInts("InputSpatial"),
		KernelInputChannels: axInt("KernelInputChannels"), KernelOutputChannels: axInt("KernelOutputChannels"),
		KernelSpatial: axInts("KernelSpatial"),
		OutputBatch:   axInt("OutputBatch"), OutputChannels: axInt("OutputChannels"), OutputSpatial: axInts("OutputSpatial"),
	}
	p.strides, p.inDil, p.kDil = ints(field("strides"), 1), ints(field("inputDilations"), 1), ints(field("kernelDilations"), 1)
	pads := field("paddings")
	p.paddings = make([][2]int, S)
	for i := range p.paddings {
		if pads.Len() > 0 {
			p.paddings[i] = [2]int{int(pads.Index(i).Index(0).Int()), int(pads.Index(i).Index(1).Int())}
		}
	}
	p.channelGroups, p.batchGroups = int(field("channelGroupCount").Int()), int(field("batchGroupCount").Int())
	return p, nil
}

var convFallbackWarning sync.Once

// ConvVJP is the gradient of y = ConvGeneral(x, w) (no input dilation, no groups) with output gradient v. Per
// spatial axis, with stride st, kernel dilation kd, paddings (pl, ph), input size I, kernel size K and output size
// O (y[o] = Σ_k x[o·st + k·kd − pl]·w[k]):
//
//	∂L/∂x = ConvGeneral(v, Reverse(w)) with v dilated by st (input dilation), kernel dilation kd, the kernel's
//	        in/out axes swapped, and paddings (pl', ph') = ((K−1)·kd − pl, I − 1 − (O−1)·st + pl);
//	∂L/∂w = ConvGeneral(x, v) with x's batch and channel axes swapped, v as the kernel (its batch as the input
//	        channels), stride kd, kernel dilation st, and paddings (pl, (K−1)·kd + (O−1)·st + 1 − I − pl).
//
// Either padding may come out negative (a crop). These are what GoMLX's stock gradient means to build; the
// stock one (v0.26.0) gets the input gradient's padding wrong for even kernel sizes. Anything else (input
// dilation, i.e. a gradient of a gradient; channel or batch groups; unreadable parameters) uses the stock
// gradient.
func ConvVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	p, err := readConvParams(node)
	if err != nil {
		convFallbackWarning.Do(func() {
			log.Printf("stylelab/nn: custom ConvGeneral gradient unavailable (%v); using GoMLX's stock gradient", err)
		})
		return stockConvVJP(node, vjpOutputs, outputShape)
	}
	if p.channelGroups > 1 || p.batchGroups > 1 || !allOne(p.inDil) {
		return stockConvVJP(node, vjpOutputs, outputShape)
	}
	in := node.Inputs()
	x, w, v := in[0], in[1], vjpOutputs[0]
	a := p.axes
	S := len(a.InputSpatial)
	xd, wd, yd := x.Shape().Dimensions, w.Shape().Dimensions, node.Shape().Dimensions
	padX, padW := make([][2]int, S), make([][2]int, S)
	for s := range S {
		I, K, O := xd[a.InputSpatial[s]], wd[a.KernelSpatial[s]], yd[a.OutputSpatial[s]]
		st, kd, pl := p.strides[s], p.kDil[s], p.paddings[s][0]
		padX[s] = [2]int{(K-1)*kd - pl, I - 1 - (O-1)*st + pl}
		padW[s] = [2]int{pl, (K-1)*kd + (O-1)*st + 1 - I - pl}
	}
	xAxes := backends.ConvolveAxesConfig{
		InputBatch: a.OutputBatch, InputChannels: a.OutputChannels, InputSpatial: a.OutputSpatial,
		KernelInputChannels: a.KernelOutputChannels, KernelOutputChannels: a.KernelInputChannels, KernelSpatial: a.KernelSpatial,
		OutputBatch: a.InputBatch, OutputChannels: a.InputChannels, OutputSpatial: a.InputSpatial,
	}
	gx := graph.ConvGeneral(v, graph.Reverse(w, a.KernelSpatial...), xAxes, ones(S), padX, p.strides, p.kDil, 1, 1)
	wAxes := backends.ConvolveAxesConfig{
		InputBatch: a.InputChannels, InputChannels: a.InputBatch, InputSpatial: a.InputSpatial,
		KernelInputChannels: a.OutputBatch, KernelOutputChannels: a.OutputChannels, KernelSpatial: a.OutputSpatial,
		OutputBatch: a.KernelInputChannels, OutputChannels: a.KernelOutputChannels, OutputSpatial: a.KernelSpatial,
	}
	gw := graph.ConvGeneral(x, v, wAxes, p.kDil, padW, nil, p.strides, 1, 1)
	if !gx.Shape().Equal(x.Shape()) || !gw.Shape().Equal(w.Shape()) {
		panic(fmt.Sprintf("nn.ConvVJP: gradients shaped %s and %s for x %s and kernel %s (a bug: please report it)",
			gx.Shape(), gw.Shape(), x.Shape(), w.Shape()))
	}
	return []*graph.Node{gx, gw}
}

func ones(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}

func allOne(v []int) bool {
	for _, x := range v {
		if x != 1 {
			return false
		}
	}
	return true
}
