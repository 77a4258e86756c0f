package cpubackend

import (
	"fmt"
	"slices"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/pkg/errors"
	"github.com/stylelab/stylelab/backends/gemm"
)

var _ = registerOps(backends.OpTypeDotGeneral, backends.OpTypeDot)

// matmulEngine describes backends/gemm's engine for Description.
func matmulEngine() string {
	i := gemm.Current()
	s := i.Engine
	if i.CoreType != "" {
		s += " " + i.CoreType
	}
	return fmt.Sprintf("%s, %d threads", s, i.Threads)
}

// dotPlan is a DotGeneral with its axes sorted into batch, contracting and free ("cross") axes.
type dotPlan struct {
	lhsBatch, lhsContract, lhsFree []int
	rhsBatch, rhsContract, rhsFree []int
	B, M, N, K                     int
}

// DotGeneral returns out[b…, i…, j…] = Σ_k lhs[b…, i…, k…] · rhs[b…, k…, j…], where b are the batch axes
// (paired in order), k the contracting axes (paired in order), i the remaining lhs axes and j the remaining rhs
// axes, each group in its original axis order; the output is [batch…, lhs free…, rhs free…].
//
// It runs as B products of M×K by K×N matrices through backends/gemm (sgemm/dgemm). An operand whose memory
// order is already [batch, free, contract] or [batch, contract, free] (ignoring axes of size 1) is used in place
// with the matching transpose flag; any other layout is transposed into [batch, free, contract] first.
func (b *Builder) DotGeneral(lhsOp backends.Op, lhsContractingAxes, lhsBatchAxes []int, rhsOp backends.Op, rhsContractingAxes, rhsBatchAxes []int) (backends.Op, error) {
	ins, err := b.checkOps("DotGeneral", lhsOp, rhsOp)
	if err != nil {
		return nil, err
	}
	lhs, rhs := ins[0].shape, ins[1].shape
	if lhs.DType != rhs.DType {
		return nil, errors.Errorf("DotGeneral: lhs %s and rhs %s must have the same dtype", lhs, rhs)
	}
	if err := checkSupportedDType(lhs.DType, "DotGeneral"); err != nil {
		return nil, err
	}
	if len(lhsContractingAxes) != len(rhsContractingAxes) || len(lhsBatchAxes) != len(rhsBatchAxes) {
		return nil, errors.Errorf("DotGeneral: lhs has %d contracting and %d batch axes, rhs %d and %d; they must pair up",
			len(lhsContractingAxes), len(lhsBatchAxes), len(rhsContractingAxes), len(rhsBatchAxes))
	}
	p := &dotPlan{lhsBatch: slices.Clone(lhsBatchAxes), lhsContract: slices.Clone(lhsContractingAxes),
		rhsBatch: slices.Clone(rhsBatchAxes), rhsContract: slices.Clone(rhsContractingAxes), B: 1, M: 1, N: 1, K: 1}
	var err2 error
	p.lhsFree, err2 = freeAxes(lhs, p.lhsBatch, p.lhsContract, "lhs")
	if err2 != nil {
		return nil, err2
	}
	p.rhsFree, err2 = freeAxes(rhs, p.rhsBatch, p.rhsContract, "rhs")
	if err2 != nil {
		return nil, err2
	}
	out := shapes.Make(lhs.DType)
	for i, ax := range p.lhsBatch {
		d := lhs.Dimensions[ax]
		if rd := rhs.Dimensions[p.rhsBatch[i]]; rd != d {
			return nil, errors.Errorf("DotGeneral: batch axis %d of lhs %s (%d) and axis %d of rhs %s (%d) differ", ax, lhs, d, p.rhsBatch[i], rhs, rd)
		}
		p.B *= d
		out.Dimensions = append(out.Dimensions, d)
	}
	for i, ax := range p.lhsContract {
		d := lhs.Dimensions[ax]
		if rd := rhs.Dimensions[p.rhsContract[i]]; rd != d {
			return nil, errors.Errorf("DotGeneral: contracting axis %d of lhs %s (%d) and axis %d of rhs %s (%d) differ", ax, lhs, d, p.rhsContract[i], rhs, rd)
		}
		p.K *= d
	}
	for _, ax := range p.lhsFree {
		p.M *= lhs.Dimensions[ax]
		out.Dimensions = append(out.Dimensions, lhs.Dimensions[ax])
	}
	for _, ax := range p.rhsFree {
		p.N *= rhs.Dimensions[ax]
		out.Dimensions = append(out.Dimensions, rhs.Dimensions[ax])
	}
	return b.add(backends.OpTypeDotGeneral, out, execDotGeneral, p, ins...), nil
}

// freeAxes checks batch/contracting axes and returns the remaining axes in order.
func freeAxes(s shapes.Shape, batch, contract []int, name string) ([]int, error) {
	used := make([]bool, s.Rank())
	for _, ax := range append(slices.Clone(batch), contract...) {
		if ax < 0 || ax >= s.Rank() {
			return nil, errors.Errorf("DotGeneral: axis %d out of range for %s %s", ax, name, s)
		}
		if used[ax] {
			return nil, errors.Errorf("DotGeneral: axis %d of %s %s used twice", ax, name, s)
		}
		used[ax] = true
	}
	var free []int
	for ax := range s.Rank() {
		if !used[ax] {
			free = append(free, ax)
		}
	}
	return free, nil
}

// Dot is the rank ≤ 2 product: [k]·[k] → scalar, [m,k]·[k] → [m], [m,k]·[k,n] → [m,n] (as XLA, no
// vector·matrix).
func (b *Builder) Dot(lhs, rhs backends.Op) (backends.Op, error) {
	ins, err := b.checkOps("Dot", lhs, rhs)
	if err != nil {
		return nil, err
	}
	lr, rr := ins[0].shape.Rank(), ins[1].shape.Rank()
	if lr < 1 || lr > 2 || rr < 1 || rr > 2 || (lr == 1 && rr == 2) {
		return nil, errors.Errorf("Dot: operands must be vector·vector, matrix·vector or matrix·matrix, got %s and %s (use DotGeneral)", ins[0].shape, ins[1].shape)
	}
	return b.DotGeneral(ins[0], []int{lr - 1}, nil, ins[1], []int{0}, nil)
}

// inOrder reports whether the axes listed, skipping those of size 1, appear in increasing order (that is, the
// operand's memory already has this layout).
func inOrder(dims []int, axes ...[]int) bool {
	last := -1
	for _, group := range axes {
		for _, ax := range group {
			if dims[ax] == 1 {
				continue
			}
			if ax < last {
				return false
			}
			last = ax
		}
	}
	return true
}

func execDotGeneral(ex *execCtx, n *node, in []*Buffer) (*Buffer, error) {
	p := n.data.(*dotPlan)
	lhs, rhs := in[0], in[1]
	ld, rd := lhs.shape.Dimensions, rhs.shape.Dimensions
	// lhs as M×K (transA=false) or K×M (transA=true) per batch.
	var transA, transB bool
	a, b := lhs.flat, rhs.flat
	var tmps []*Buffer
	switch {
	case inOrder(ld, p.lhsBatch, p.lhsFree, p.lhsContract):
	case inOrder(ld, p.lhsBatch, p.lhsContract, p.lhsFree):
		transA = true
	default:
		t := transposed(ex, lhs, concatAxes(p.lhsBatch, p.lhsFree, p.lhsContract))
		tmps = append(tmps, t)
		a = t.flat
	}
	switch {
	case inOrder(rd, p.rhsBatch, p.rhsContract, p.rhsFree):
	case inOrder(rd, p.rhsBatch, p.rhsFree, p.rhsContract):
		transB = true
	default:
		t := transposed(ex, rhs, concatAxes(p.rhsBatch, p.rhsContract, p.rhsFree))
		tmps = append(tmps, t)
		b = t.flat
	}
	out := ex.pool.get(n.shape)
	M, N, K := p.M, p.N, p.K
	lda, ldb := K, N
	if transA {
		lda = M
	}
	if transB {
		ldb = K
	}
	lda, ldb = max(lda, 1), max(ldb, 1)
	sa, sb, sc := M*K, K*N, M*N
	switch o := out.flat.(type) {
	case []float32:
		av, bv := a.([]float32), b.([]float32)
		for i := 0; i < p.B; i++ {
			gemm.Sgemm(transA, transB, M, N, K, 1, av[i*sa:(i+1)*sa], lda, bv[i*sb:(i+1)*sb], ldb, 0, o[i*sc:(i+1)*sc], max(N, 1))
		}
	case []float64:
		av, bv := a.([]float64), b.([]float64)
		for i := 0; i < p.B; i++ {
			gemm.Dgemm(transA, transB, M, N, K, 1, av[i*sa:(i+1)*sa], lda, bv[i*sb:(i+1)*sb], ldb, 0, o[i*sc:(i+1)*sc], max(N, 1))
		}
	case []int32:
		dotInts(o, a.([]int32), b.([]int32), p.B, M, N, K, transA, transB)
	case []int64:
		dotInts(o, a.([]int64), b.([]int64), p.B, M, N, K, transA, transB)
	default:
		return nil, errors.Errorf("DotGeneral: dtype %s not supported by the stylelab cpu backend (float32, float64, int32, int64 are)", n.shape.DType)
	}
	for _, t := range tmps {
		ex.pool.put(t.flat)
	}
	return out, nil
}

func concatAxes(groups ...[]int) []int {
	var out []int
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// transposed returns a new buffer holding x transposed by perm (pooled; the caller gives it back).
func transposed(ex *execCtx, x *Buffer, perm []int) *Buffer {
	dims := make([]int, len(perm))
	for i, p := range perm {
		dims[i] = x.shape.Dimensions[p]
	}
	out := ex.pool.get(shapes.Make(x.shape.DType, dims...))
	sd, sp := simplifyPerm(x.shape.Dimensions, perm)
	if isIdentity(sp) {
		copyFlat(out.flat, x.flat)
		return out
	}
	switch s := words(x.flat).(type) {
	case []uint8:
		transposeT(ex.backend, words(out.flat).([]uint8), s, sd, sp)
	case []uint16:
		transposeT(ex.backend, words(out.flat).([]uint16), s, sd, sp)
	case []uint32:
		transposeT(ex.backend, words(out.flat).([]uint32), s, sd, sp)
	case []uint64:
		transposeT(ex.backend, words(out.flat).([]uint64), s, sd, sp)
	}
	return out
}

// dotInts is the integer product (plain loops, wrapping arithmetic).
func dotInts[T int32 | int64](c, a, b []T, B, M, N, K int, transA, transB bool) {
	for bb := 0; bb < B; bb++ {
		av, bv, cv := a[bb*M*K:], b[bb*K*N:], c[bb*M*N:(bb+1)*M*N]
		for i := 0; i < M; i++ {
			for j := 0; j < N; j++ {
				var s T
				for k := 0; k < K; k++ {
					x := av[i*K+k]
					if transA {
						x = av[k*M+i]
					}
					y := bv[k*N+j]
					if transB {
						y = bv[j*K+k]
					}
					s += x * y
				}
				cv[i*N+j] = s
			}
		}
	}
}
