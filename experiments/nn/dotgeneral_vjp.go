package nn

import (
	"fmt"
	"log"
	"reflect"
	"slices"
	"sync"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// stockDotGeneralVJP is GoMLX's own DotGeneral gradient, kept for the fallback and for tests.
var stockDotGeneralVJP graph.VJP

var registerOnce sync.Once

// registered reports whether DotGeneralVJP is the active gradient of DotGeneral.
var registered bool

func init() {
	// Package initialisation runs single-threaded before main, so writing the global map here cannot
	// race with a gradient being built in another goroutine. RegisterDotGeneralVJP is idempotent.
	RegisterDotGeneralVJP()
}

// RegisterDotGeneralVJP installs DotGeneralVJP as the gradient of every DotGeneral node (including those
// that Einsum and MatMul build) in graph.VJPRegistration. It runs at most once per process (sync.Once),
// and the package's init already calls it, so callers never need to; it is exported only so that the
// intent is explicit where a program relies on it.
func RegisterDotGeneralVJP() {
	registerOnce.Do(func() {
		stockDotGeneralVJP = graph.VJPRegistration[graph.NodeTypeDotGeneral]
		graph.VJPRegistration[graph.NodeTypeDotGeneral] = DotGeneralVJP
		registered = true
	})
}

// DotGeneralVJPRegistered reports whether the replacement DotGeneral gradient is installed.
func DotGeneralVJPRegistered() bool { return registered }

// dotAxes are the axes of one DotGeneral node, read from GoMLX's private node inputs.
type dotAxes struct {
	lhsContracting, lhsBatch, rhsContracting, rhsBatch []int
}

var fallbackWarning sync.Once

// readDotAxes reads the contracting and batch axes of a DotGeneral node.
//
// GoMLX v0.26.0 keeps them in the unexported struct nodeInputsDotGeneral and offers no public accessor,
// so they are read through reflection (reading unexported fields is allowed; nothing is written). If a
// future GoMLX renames the fields, this returns an error and DotGeneralVJP falls back to the stock gradient.
func readDotAxes(node *graph.Node) (axes dotAxes, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading DotGeneral axes: %v", r)
		}
	}()
	v := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !v.IsValid() || v.Kind() != reflect.Interface || v.IsNil() {
		return axes, fmt.Errorf("graph.Node has no field \"inputs\"")
	}
	in := v.Elem()
	if in.Kind() == reflect.Pointer {
		in = in.Elem()
	}
	if in.Kind() != reflect.Struct {
		return axes, fmt.Errorf("DotGeneral node inputs are %s, not a struct", in.Kind())
	}
	field := func(name string) ([]int, error) {
		f := in.FieldByName(name)
		if !f.IsValid() || f.Kind() != reflect.Slice {
			return nil, fmt.Errorf("DotGeneral node inputs lack the []int field %q", name)
		}
		out := make([]int, f.Len())
		for i := range out {
			out[i] = int(f.Index(i).Int())
		}
		return out, nil
	}
	if axes.lhsContracting, err = field("lhsContractingAxes"); err != nil {
		return
	}
	if axes.lhsBatch, err = field("lhsBatchAxes"); err != nil {
		return
	}
	if axes.rhsContracting, err = field("rhsContractingAxes"); err != nil {
		return
	}
	axes.rhsBatch, err = field("rhsBatchAxes")
	return
}

// crossAxes lists the axes of a rank-`rank` operand that are neither contracting nor batch, ascending.
func crossAxes(rank int, contracting, batch []int) []int {
	var out []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

// rankIn returns the position of a in the ascending order of set.
func rankIn(set []int, a int) int {
	n := 0
	for _, s := range set {
		if s < a {
			n++
		}
	}
	return n
}

// DotGeneralVJP is the vector-Jacobian product of z = DotGeneral(x, y) with output gradient v, computed
// with one DotGeneral per operand and, only when no operand order gives the operand's layout directly, a
// transpose:
//
//	∂L/∂x = DotGeneral(v, y) contracting v's y-cross axes with y's cross axes, batching the batch axes;
//	∂L/∂y = DotGeneral(v, x) contracting v's x-cross axes with x's cross axes, batching the batch axes.
//
// For a matrix product z = x·y this is the textbook ∂L/∂x = v·yᵀ, ∂L/∂y = xᵀ·v. Each product can be built with
// its operands in either order, which yields the same numbers in two axis orders ([batch | x cross | y
// contracting] or [batch | y contracting | x cross] for ∂L/∂x); the order that already is the operand's layout
// is used, so e.g. the kernel gradient of an im2col convolution, patchesᵀ·v [K,Cout], needs no transpose.
//
// When both operands are the same node with the same axes (a Gram matrix z = xᵀx, as Einsum("bmi,bmj->bij", x,
// x) builds), the two terms are one: ∂L/∂x = DotGeneral(v + vᵀ, x), with vᵀ swapping v's two cross-axis blocks
// (a small [batch, N, N] transpose), i.e. one large product instead of two products and a sum of two large
// tensors. For the Gram loss the gradient is then 2·(∂L/∂G)·F in F's own layout.
//
// The stock GoMLX VJP computes the same values by broadcasting v against the other operand into a tensor of size
// (batch × x-cross × y-cross × contracted) and reducing it, which for an im2col convolution is hundreds of MB
// and most of the step time.
//
// It has the signature of graph.VJP so that it can sit in graph.VJPRegistration. If the node's axes cannot
// be read (a GoMLX version whose internals differ), it logs once and uses the stock gradient.
func DotGeneralVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	axes, err := readDotAxes(node)
	if err != nil {
		if stockDotGeneralVJP == nil {
			panic(fmt.Sprintf("nn.DotGeneralVJP: %v, and the stock gradient was not saved", err))
		}
		fallbackWarning.Do(func() {
			log.Printf("stylelab/nn: custom DotGeneral gradient unavailable (%v); using GoMLX's stock gradient, "+
				"which needs much more memory", err)
		})
		return stockDotGeneralVJP(node, vjpOutputs, outputShape)
	}
	inputs := node.Inputs()
	lhs, rhs := inputs[0], inputs[1]
	v := vjpOutputs[0]

	nb := len(axes.lhsBatch)
	lhsCross := crossAxes(lhs.Rank(), axes.lhsContracting, axes.lhsBatch)
	rhsCross := crossAxes(rhs.Rank(), axes.rhsContracting, axes.rhsBatch)
	nlc, nrc := len(lhsCross), len(rhsCross)
	// Axes of v: [batch (nb) | lhs cross (nlc) | rhs cross (nrc)].
	vBatch := axisRange(0, nb)
	vLhsCross := axisRange(nb, nlc)
	vRhsCross := axisRange(nb+nlc, nrc)

	if !plainGradients && lhs == rhs && slices.Equal(axes.lhsContracting, axes.rhsContracting) && slices.Equal(axes.lhsBatch, axes.rhsBatch) {
		// z = f(x, x): ∂L/∂x = gradLhs(v) + gradRhs(v) = gradLhs(v + v'), v' = v with its cross blocks swapped.
		swap := append(append(append([]int{}, vBatch...), vRhsCross...), vLhsCross...)
		vs := graph.Add(v, graph.TransposeAllAxes(v, swap...))
		return []*graph.Node{operandGradient(vs, vRhsCross, vBatch, rhs, rhsCross, axes.rhsBatch, axes.rhsContracting,
			lhs.Rank(), axes.lhsBatch, lhsCross, axes.lhsContracting), nil}
	}
	gl := operandGradient(v, vRhsCross, vBatch, rhs, rhsCross, axes.rhsBatch, axes.rhsContracting,
		lhs.Rank(), axes.lhsBatch, lhsCross, axes.lhsContracting)
	gr := operandGradient(v, vLhsCross, vBatch, lhs, lhsCross, axes.lhsBatch, axes.lhsContracting,
		rhs.Rank(), axes.rhsBatch, rhsCross, axes.rhsContracting)
	return []*graph.Node{gl, gr}
}

// operandGradient returns the gradient of one DotGeneral operand ("this", of rank rank, with batch axes
// batch, cross axes cross and contracting axes contracting) from the output gradient v and the other operand:
// the product of v and other, contracting v's axes vOtherCross with other's cross axes otherCross and batching
// v's vBatch with other's otherBatch. Of the two operand orders, the one whose result is already in this
// operand's layout is used; otherwise (v, other) followed by a transpose.
func operandGradient(v *graph.Node, vOtherCross, vBatch []int, other *graph.Node, otherCross, otherBatch, otherContracting []int,
	rank int, batch, cross, contracting []int) *graph.Node {
	nb, nc := len(batch), len(cross)
	// The other operand's contracting axes pair with ours (contracting[k] ↔ otherContracting[k]) and come out of
	// the product in ascending order of the other operand's axes.
	// Order A, DotGeneral(v, other): [batch | our cross | other's remaining = contracting].
	permA := make([]int, rank)
	// Order B, DotGeneral(other, v): [batch | other's remaining = contracting | our cross].
	permB := make([]int, rank)
	for i, a := range batch {
		permA[a], permB[a] = i, i
	}
	for j, a := range cross {
		permA[a] = nb + j
		permB[a] = rank - nc + j
	}
	for k, a := range contracting {
		r := rankIn(otherContracting, otherContracting[k])
		permA[a] = nb + nc + r
		permB[a] = nb + r
	}
	if !plainGradients && isIdentity(permB) && !isIdentity(permA) {
		return graph.DotGeneral(other, otherCross, otherBatch, v, vOtherCross, vBatch)
	}
	return transposeIfNeeded(graph.DotGeneral(v, vOtherCross, vBatch, other, otherCross, otherBatch), permA)
}

func isIdentity(perm []int) bool {
	for i, p := range perm {
		if i != p {
			return false
		}
	}
	return true
}

// transposeIfNeeded returns y with y.axis[i] = x.axis[perm[i]], skipping the identity permutation.
func transposeIfNeeded(x *graph.Node, perm []int) *graph.Node {
	for i, p := range perm {
		if i != p {
			return graph.TransposeAllAxes(x, perm...)
		}
	}
	return x
}

func axisRange(start, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = start + i
	}
	return out
}
