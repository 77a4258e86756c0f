package gemm

import "sync"

// The Go engine is a GotoBLAS-style packed product. For each nc-column panel of op(B) and each
// kc-deep slice of k, the panel is packed into NR-wide strips (p-major, zero-padded), and for each
// mc-row block of op(A) the block is packed into MR-tall strips; a microkernel then computes each
// MR×NR tile acc = Σ_{p in the slice} op(A)[i,p]·op(B)[p,j], in order p = 0..kc−1, and adds
// float(alpha·acc) to C. C is scaled by beta once before. So C[i,j] = beta·C₀[i,j] + Σ_slices alpha·acc_slice
// with every element's arithmetic independent of where its tile lies: results do not depend on the
// m/n partition over goroutines, nor on edge tiles (which run the same microkernel into a scratch tile).
const (
	kc = 256 // depth of a packed slice
	mc = 96  // rows of op(A) per packed block (a multiple of every MR)
	nc = 512 // columns of op(B) per packed panel (a multiple of every NR)
)

// kernel is one register-blocked microkernel: tile C (mr×nr, row stride ldc) += alpha·(ap·bp), where
// ap is k×mr packed p-major and bp is k×nr packed p-major.
type kernel[T float32 | float64] struct {
	mr, nr int
	name   string // engine name: "go-asm" or "go"
	isa    string // "AVX-512", "AVX2+FMA" or "portable Go"
	f      func(k int, ap, bp, c []T, ldc int, alpha T)
}

// goGemm is one part of the Go engine on the calling goroutine: C = alpha·op(A)·op(B) + beta·C.
func goGemm[T float32 | float64](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	scaleC(m, n, beta, c, ldc)
	if k == 0 || alpha == 0 {
		return
	}
	kern := kernelFor[T]()
	mr, nr := kern.mr, kern.nr
	buf := getBuf[T](kc*nc + mc*kc + mr*nr)
	defer putBuf(buf)
	bp, ap, tile := (*buf)[:kc*nc], (*buf)[kc*nc:kc*nc+mc*kc], (*buf)[kc*nc+mc*kc:]
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			packB(transB, b, ldb, pc, jc, kb, nb, nr, bp)
			for ic := 0; ic < m; ic += mc {
				mb := min(mc, m-ic)
				packA(transA, a, lda, ic, pc, mb, kb, mr, ap)
				for jr := 0; jr < nb; jr += nr {
					bs := bp[jr*kb : jr*kb+nr*kb]
					w := min(nr, nb-jr)
					for ir := 0; ir < mb; ir += mr {
						as := ap[ir*kb : ir*kb+mr*kb]
						h := min(mr, mb-ir)
						off := (ic+ir)*ldc + jc + jr
						if h == mr && w == nr {
							kern.f(kb, as, bs, c[off:], ldc, alpha)
							continue
						}
						clear(tile)
						kern.f(kb, as, bs, tile, nr, 1)
						for i := 0; i < h; i++ {
							ci := c[off+i*ldc : off+i*ldc+w]
							for j := range ci {
								ci[j] += T(alpha * tile[i*nr+j])
							}
						}
					}
				}
			}
		}
	}
}

// packB packs op(B)[pc:pc+kb, jc:jc+nb] into nr-wide strips: strip s holds, for p = 0..kb−1, the nr
// values op(B)[pc+p, jc+s·nr+j], zero beyond nb.
func packB[T float32 | float64](transB bool, b []T, ldb, pc, jc, kb, nb, nr int, bp []T) {
	for s := 0; s < nb; s += nr {
		w := min(nr, nb-s)
		dst := bp[s*kb : s*kb+kb*nr]
		if !transB {
			for p := 0; p < kb; p++ {
				row := b[(pc+p)*ldb+jc+s : (pc+p)*ldb+jc+s+w]
				d := dst[p*nr : p*nr+nr]
				copy(d, row)
				clear(d[w:])
			}
			continue
		}
		if w < nr {
			clear(dst)
		}
		for j := 0; j < w; j++ {
			col := b[(jc+s+j)*ldb+pc : (jc+s+j)*ldb+pc+kb]
			for p, v := range col {
				dst[p*nr+j] = v
			}
		}
	}
}

// packA packs op(A)[ic:ic+mb, pc:pc+kb] into mr-tall strips: strip s holds, for p = 0..kb−1, the mr
// values op(A)[ic+s·mr+i, pc+p], zero beyond mb.
func packA[T float32 | float64](transA bool, a []T, lda, ic, pc, mb, kb, mr int, ap []T) {
	for s := 0; s < mb; s += mr {
		h := min(mr, mb-s)
		dst := ap[s*kb : s*kb+kb*mr]
		if transA {
			for p := 0; p < kb; p++ {
				row := a[(pc+p)*lda+ic+s : (pc+p)*lda+ic+s+h]
				d := dst[p*mr : p*mr+mr]
				copy(d, row)
				clear(d[h:])
			}
			continue
		}
		if h == mr && mr%6 == 0 {
			for i := 0; i < mr; i += 6 {
				pack6(a[(ic+s+i)*lda+pc:], lda, kb, dst[i:], mr)
			}
			continue
		}
		if h < mr {
			clear(dst)
		}
		for i := 0; i < h; i++ {
			row := a[(ic+s+i)*lda+pc : (ic+s+i)*lda+pc+kb]
			for p, v := range row {
				dst[p*mr+i] = v
			}
		}
	}
}

// pack6 interleaves six rows of length kb, stride lda, into dst: dst[mr·p+i] = a[i·lda+p] for i < 6,
// six values per write burst (the general loop above writes one value at a stride of mr).
func pack6[T float32 | float64](a []T, lda, kb int, dst []T, mr int) {
	r0 := a[:kb]
	r1 := a[lda : lda+kb]
	r2 := a[2*lda : 2*lda+kb]
	r3 := a[3*lda : 3*lda+kb]
	r4 := a[4*lda : 4*lda+kb]
	r5 := a[5*lda : 5*lda+kb]
	dst = dst[:mr*(kb-1)+6]
	for p := range r0 {
		d := dst[mr*p : mr*p+6 : mr*p+6]
		d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
}

var (
	pool32 sync.Pool
	pool64 sync.Pool
)

func getBuf[T float32 | float64](n int) *[]T {
	pool := &pool32
	var zero T
	if _, ok := any(zero).(float64); ok {
		pool = &pool64
	}
	if p, ok := pool.Get().(*[]T); ok && len(*p) >= n {
		return p
	}
	s := make([]T, n)
	return &s
}

func putBuf[T float32 | float64](p *[]T) {
	var zero T
	if _, ok := any(zero).(float64); ok {
		pool64.Put(p)
	} else {
		pool32.Put(p)
	}
}

// goKernel4x2 is the portable microkernel: a 4×2 tile in 8 scalar accumulators (with the 6 loaded
// operands they fit the 15 floating-point registers Go's amd64 register allocator uses, so nothing spills).
func goKernel4x2[T float32 | float64](k int, ap, bp, c []T, ldc int, alpha T) {
	var c00, c01, c10, c11, c20, c21, c30, c31 T
	ap, bp = ap[:4*k], bp[:2*k]
	for len(ap) >= 4 && len(bp) >= 2 {
		a0, a1, a2, a3 := ap[0], ap[1], ap[2], ap[3]
		b0, b1 := bp[0], bp[1]
		ap, bp = ap[4:], bp[2:]
		c00 += T(a0 * b0)
		c01 += T(a0 * b1)
		c10 += T(a1 * b0)
		c11 += T(a1 * b1)
		c20 += T(a2 * b0)
		c21 += T(a2 * b1)
		c30 += T(a3 * b0)
		c31 += T(a3 * b1)
	}
	r := c[0:2:2]
	r[0] += T(alpha * c00)
	r[1] += T(alpha * c01)
	r = c[ldc : ldc+2 : ldc+2]
	r[0] += T(alpha * c10)
	r[1] += T(alpha * c11)
	r = c[2*ldc : 2*ldc+2 : 2*ldc+2]
	r[0] += T(alpha * c20)
	r[1] += T(alpha * c21)
	r = c[3*ldc : 3*ldc+2 : 3*ldc+2]
	r[0] += T(alpha * c30)
	r[1] += T(alpha * c31)
}

// scaleC sets C = beta·C, with beta = 0 writing zeros (BLAS convention: NaNs in C are dropped).
func scaleC[T float32 | float64](m, n int, beta T, c []T, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(ci)
			continue
		}
		for j := range ci {
			ci[j] *= beta
		}
	}
}

// goEngine is the Go kernel split over threads goroutines.
func goEngine(threads int) *engine {
	name := "go"
	if kernelFor[float32]().name != "go" {
		name = kernelFor[float32]().name
	}
	return &engine{s: goGemm[float32], d: goGemm[float64], threads: threads, partMNK: parallelMNK, info: Info{Engine: name}}
}
