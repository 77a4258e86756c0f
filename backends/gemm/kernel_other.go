//go:build !amd64

package gemm

// kernelFor is the portable 4×2 Go microkernel on architectures without an assembly one.
func kernelFor[T float32 | float64]() kernel[T] {
	return kernel[T]{mr: 4, nr: 2, name: "go", isa: "portable Go", f: goKernel4x2[T]}
}

var useAsm, useAsmDefault, useAVX512, useAVX512Default = false, false, false, false
