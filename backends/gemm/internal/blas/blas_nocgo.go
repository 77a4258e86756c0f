//go:build !cgo || !linux

package blas

import "errors"

// Lib is never loaded without cgo.
type Lib struct {
	Path, CoreName string
}

// Load fails: without cgo no library can be loaded, and the caller uses its Go engine.
func Load(name, coreType string, libThreads int) (*Lib, error) {
	return nil, errors.New("this build has no cgo (CGO_ENABLED=0 or not Linux), so no BLAS library can be loaded")
}

// Fits is true: nothing is ever passed to a library.
func Fits(xs ...int) bool { return true }

func (l *Lib) SetThreads(n int) {}
func (l *Lib) Close()           {}

func (l *Lib) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	panic("blas: no library in a build without cgo")
}

func (l *Lib) Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	panic("blas: no library in a build without cgo")
}
