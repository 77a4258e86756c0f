//go:build !cgo || !linux

package gemm

import "errors"

const haveCgo = false

// blasLib is never loaded without cgo: the Go engine is used.
type blasLib struct {
	path, coreName string
}

func loadBLAS(name, coreType string, libThreads int) (*blasLib, error) {
	return nil, errors.New("this build has no cgo (CGO_ENABLED=0 or not Linux), so no BLAS library can be loaded")
}

func (l *blasLib) setNumThreads(n int) {}
func (l *blasLib) close()              {}

func (l *blasLib) sgemmFunc() func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	return goGemm[float32]
}

func (l *blasLib) dgemmFunc() func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	return goGemm[float64]
}
