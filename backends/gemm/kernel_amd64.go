//go:build amd64

package gemm

import "golang.org/x/sys/cpu"

// useAsm: the AVX2+FMA microkernels need both (x/sys/cpu also checks that the OS saves YMM state).
var (
	useAsmDefault    = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	useAsm           = useAsmDefault // tests and benchmarks may switch it off
	useAVX512Default = useAsmDefault && cpu.X86.HasAVX512F
	useAVX512        = useAVX512Default // AVX-512 kernels instead of AVX2 ones (tests and benchmarks may switch it off)
)

// sgemmKernel6x16 computes the 6×16 float32 tile C (row stride ldc elements) += float32(alpha·acc),
// acc[i][j] = Σ_{p<k} ap[6p+i]·bp[16p+j] accumulated with FMA in order p = 0..k−1. k ≥ 1.
//
//go:noescape
func sgemmKernel6x16(k int, ap, bp, c *float32, ldc int, alpha float32)

// dgemmKernel6x8 is sgemmKernel6x16 for a 6×8 float64 tile.
//
//go:noescape
func dgemmKernel6x8(k int, ap, bp, c *float64, ldc int, alpha float64)

// sgemmKernel12x32 is sgemmKernel6x16 for a 12×32 tile with AVX-512.
//
//go:noescape
func sgemmKernel12x32(k int, ap, bp, c *float32, ldc int, alpha float32)

// dgemmKernel12x16 is sgemmKernel12x32 for a 12×16 float64 tile.
//
//go:noescape
func dgemmKernel12x16(k int, ap, bp, c *float64, ldc int, alpha float64)

// kernelFor returns the AVX-512 assembly microkernel when the CPU has AVX-512F, else the AVX2+FMA
// one when it has those, else the portable 4×2 Go one.
func kernelFor[T float32 | float64]() kernel[T] {
	if !useAsm {
		return kernel[T]{mr: 4, nr: 2, name: "go", isa: "portable Go", f: goKernel4x2[T]}
	}
	var zero T
	if useAVX512 {
		switch any(zero).(type) {
		case float32:
			f := func(k int, ap, bp, c []float32, ldc int, alpha float32) {
				_ = ap[12*k-1]
				_ = bp[32*k-1]
				_ = c[11*ldc+31]
				sgemmKernel12x32(k, &ap[0], &bp[0], &c[0], ldc, alpha)
			}
			return any(kernel[float32]{mr: 12, nr: 32, name: "go-asm", isa: "AVX-512", f: f}).(kernel[T])
		default:
			f := func(k int, ap, bp, c []float64, ldc int, alpha float64) {
				_ = ap[12*k-1]
				_ = bp[16*k-1]
				_ = c[11*ldc+15]
				dgemmKernel12x16(k, &ap[0], &bp[0], &c[0], ldc, alpha)
			}
			return any(kernel[float64]{mr: 12, nr: 16, name: "go-asm", isa: "AVX-512", f: f}).(kernel[T])
		}
	}
	switch any(zero).(type) {
	case float32:
		f := func(k int, ap, bp, c []float32, ldc int, alpha float32) {
			_ = ap[6*k-1]
			_ = bp[16*k-1]
			_ = c[5*ldc+15]
			sgemmKernel6x16(k, &ap[0], &bp[0], &c[0], ldc, alpha)
		}
		return any(kernel[float32]{mr: 6, nr: 16, name: "go-asm", isa: "AVX2+FMA", f: f}).(kernel[T])
	default:
		f := func(k int, ap, bp, c []float64, ldc int, alpha float64) {
			_ = ap[6*k-1]
			_ = bp[8*k-1]
			_ = c[5*ldc+7]
			dgemmKernel6x8(k, &ap[0], &bp[0], &c[0], ldc, alpha)
		}
		return any(kernel[float64]{mr: 6, nr: 8, name: "go-asm", isa: "AVX2+FMA", f: f}).(kernel[T])
	}
}
