// Package gemm is stylelab's matrix-product engine: C = alpha·op(A)·op(B) + beta·C on row-major
// float32/float64 matrices, for the CPU GoMLX backend's DotGeneral.
//
// Engines, best first:
//   - "openblas": OpenBLAS loaded at run time with dlopen (libopenblas.so.0, Debian's
//     libopenblas0-pthread), its core type chosen from CPUID (OPENBLAS_CORETYPE, set for the library's
//     initialisation only). STYLELAB_OPENBLAS_CORETYPE forces a core type. An OPENBLAS_CORETYPE
//     inherited from the environment is deliberately not followed: machines set it for other programs
//     (seen: Haswell on an AVX-512 CPU, 1.25–1.5× slower Gatys steps), and every core type stylelab
//     runs is verified numerically anyway; Info.Reason names the ignored value;
//   - "blis": BLIS (libblis.so.4, Debian's libblis4-pthread), also through dlopen;
//   - "go-asm" / "go": a packed, register-blocked Go kernel: assembly microkernels on amd64 (AVX-512
//     12×32 when the CPU has AVX-512F, else AVX2+FMA 6×16), a portable 4×2 Go one elsewhere. It is
//     what CGO_ENABLED=0 builds use, since they cannot load a library.
//
// STYLELAB_GEMM=openblas|blis|go forces one engine; if it cannot be loaded or fails the check, the Go
// engine is used and Info.Reason says why.
//
// Every library engine is verified at start-up: a fixed set of products (odd sizes, all four
// transpose combinations, padded strides, alpha ≠ 1, beta ≠ 0, float32 and float64) is compared with
// a naive float64-accumulating triple loop; element (i,j) passes when
//
//	|C − C_ref| ≤ 2·(k+2)·ε·(|alpha|·Σ_p |op(A)[i,p]·op(B)[p,j]| + |beta·C₀[i,j]|)
//
// (ε = 2⁻²³ for float32, 2⁻⁵² for float64). On a mismatch the next-lower OpenBLAS core type is tried,
// then BLIS, then the Go engine. BLIS is skipped (unless forced) where it runs its "generic" C
// kernels and the Go engine has assembly ones, which are faster.
//
// Threads: libraries run single-threaded (OpenBLAS's own threads spin between calls, taking CPU
// from the Go ops that follow). A large product is cut along M (or N, when N > M) into parts whose
// boundaries depend on (m, n, k) alone, and Info.Threads = GOMAXPROCS (at first use) goroutines
// compute them, each taking the next part when it finishes one (so a core slowed by other work
// takes fewer).
//
// Determinism: every part is one fixed call, whichever goroutine runs it and whenever, so the same
// inputs give the same bytes on every call, with any thread count. (This matters for libraries:
// OpenBLAS 0.3.21's Haswell kernels give other bytes for other cuts. The Go engine's bytes do not
// depend on the cut at all.) Bytes still differ between engines and OpenBLAS core types.
package gemm

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/stylelab/stylelab/backends/gemm/internal/blas"
)

// Info says which engine computes products in this process and why.
type Info struct {
	Engine   string   // "openblas", "blis", "go-asm" (packed Go kernel, AVX-512 or AVX2+FMA assembly microkernel), "go"
	Library  string   // path of the loaded shared library, "" for Go engines
	CoreType string   // OpenBLAS core type in use (e.g. "SkylakeX", "Haswell", "Zen"), "" otherwise
	Threads  int      // goroutines computing the parts of a large product (libraries run one thread each)
	CPU      string   // CPU model name from /proc/cpuinfo
	Features []string // relevant CPUID features: avx2, fma, avx512f, ...
	Verified bool     // the start-up reference check passed
	Reason   string   // one sentence: why this engine (and why not the better ones)
}

type (
	sgemmFn = func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	dgemmFn = func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)
)

// engine computes whole products: s and d compute one part on the calling goroutine; the engine
// splits larger products over threads goroutines.
type engine struct {
	info     Info
	s        sgemmFn
	d        dgemmFn
	lib      *blas.Lib // nil for Go engines
	arch     string    // what a library says it runs: OpenBLAS core name, BLIS arch ("generic": its C reference kernels)
	threads  int
	smallMNK float64 // products with m·n·k below this go to the Go kernel (faster than a library call there)
	partMNK  float64 // least multiply-adds per part when splitting (parallelMNK; the start-up check lowers it)
}

var (
	once   sync.Once
	active *engine
)

// Current initialises the engine on first use and reports what is in use.
func Current() Info {
	once.Do(func() { active = choose() })
	return active.info
}

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices; op(X) = Xᵀ when transX.
// op(A) is m×k, op(B) is k×n, C is m×n; lda/ldb/ldc are row strides (elements).
// As in BLAS, beta = 0 overwrites C (NaNs in C are not propagated), alpha = 0 or k = 0 reads neither A nor B,
// and C must not overlap A or B. Invalid sizes or strides, or slices too short for them, panic with a
// message naming the argument. Safe for concurrent use.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	Current()
	run(active, active.s, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// Dgemm is Sgemm for float64.
func Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	checkArgs(transA, transB, m, n, k, len(a), lda, len(b), ldb, len(c), ldc)
	Current()
	run(active, active.d, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// parallelMNK is the least number of multiply-adds (m·n·k) per part worth a goroutine.
const parallelMNK = 1 << 18

// Parts (see partition): at most maxParts of them, at least minPartDim wide, and at most
// max(2, dim/packPartDim) so that a library repacks the operand every part shares (B for parts of
// M, A for parts of N) on no more than one part per packPartDim rows or columns.
const (
	maxParts    = 16
	minPartDim  = 16
	packPartDim = 256
)

// partition cuts a product into parts along M (alongM, when m ≥ n) or N, of size rows/columns each
// (the last one may be smaller). It depends on the shape alone, not on the number of threads, so a
// product's bytes do not depend on how many goroutines compute its parts, nor on which computes
// which. Boundaries are at multiples of 16 rows, or of 32 columns (8 for parts narrower than 128).
func partition(m, n, k int, partMNK float64) (size, parts int, alongM bool) {
	alongM = m >= n
	dim, align, small := n, 32, 8
	if alongM {
		dim, align, small = m, 16, 16
	}
	p := min(maxParts, int(float64(m)*float64(n)*float64(k)/partMNK), max(2, dim/packPartDim), dim/minPartDim)
	if p <= 1 {
		return dim, 1, alongM
	}
	size = (dim + p - 1) / p
	if size < 4*align {
		align = small
	}
	size = (size + align - 1) / align * align
	return size, (dim + size - 1) / size, alongM
}

// run computes the product with e's part function f, part by part as partition says, on
// min(e.threads, parts) goroutines that take the next part as they finish one.
func run[T float32 | float64](e *engine, f func(bool, bool, int, int, int, T, []T, int, []T, int, T, []T, int), transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if float64(m)*float64(n)*float64(k) < e.smallMNK {
		f = goGemm[T]
	}
	size, parts, alongM := partition(m, n, k, e.partMNK)
	if parts == 1 {
		f(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	part := func(p int) {
		lo := p * size
		if alongM {
			hi := min(m, lo+size)
			var ap []T // where row lo of op(A) starts
			if transA {
				ap = a[lo:]
			} else {
				ap = a[lo*lda:]
			}
			f(transA, transB, hi-lo, n, k, alpha, ap, lda, b, ldb, beta, c[lo*ldc:], ldc)
			return
		}
		hi := min(n, lo+size)
		var bp []T // where column lo of op(B) starts
		if transB {
			bp = b[lo*ldb:]
		} else {
			bp = b[lo:]
		}
		f(transA, transB, m, hi-lo, k, alpha, a, lda, bp, ldb, beta, c[lo:], ldc)
	}
	var next atomic.Int64
	work := func() {
		for p := int(next.Add(1) - 1); p < parts; p = int(next.Add(1) - 1) {
			part(p)
		}
	}
	var wg sync.WaitGroup
	for range min(e.threads, parts) - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
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

// loader loads a library engine: name "openblas" or "blis", coreType for OpenBLAS ("" = its own detection).
type loader func(name, coreType string, threads int) (*engine, error)

// loadLibrary is the real loader: dlopen with one library thread, the product split over threads goroutines.
func loadLibrary(name, coreType string, threads int) (*engine, error) {
	l, err := blas.Load(name, coreType, 1)
	if err != nil {
		return nil, err
	}
	s := func(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
		if !blas.Fits(m, n, k, lda, ldb, ldc) {
			goGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			return
		}
		l.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
	d := func(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
		if !blas.Fits(m, n, k, lda, ldb, ldc) {
			goGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
			return
		}
		l.Dgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
	e := &engine{lib: l, s: s, d: d, threads: threads, smallMNK: smallMNK, partMNK: parallelMNK, arch: l.CoreName}
	e.info.Engine, e.info.Library = name, l.Path
	if name == "openblas" {
		e.info.CoreType = l.CoreName
	}
	return e, nil
}

// smallMNK: below this many multiply-adds a product goes to the Go kernel even when a library is
// loaded. Zero: measured on an AMD EPYC (AVX-512), OpenBLAS was faster than the Go kernel at every
// size from 4³ (0.3 µs against 0.8 µs) up (BenchmarkSmall).
const smallMNK = 0

// libraryOrder is the default order of libraries tried, best measured first: on an AMD EPYC with
// AVX-512 (Zen 4), Debian's BLIS 0.9 fell back to its "generic" kernels (it does not know the CPU)
// and ran 3–5× slower than OpenBLAS with core type SkylakeX (BenchmarkConv).
var libraryOrder = []string{"openblas", "blis"}

// choose picks, loads and verifies the engine for this process.
func choose() *engine {
	feats := cpuFeatures()
	e := selectEngine(os.Getenv("STYLELAB_GEMM"), os.Getenv("STYLELAB_OPENBLAS_CORETYPE"), os.Getenv("OPENBLAS_CORETYPE"), coreTypes(feats, cpuVendorAMD()),
		runtime.GOMAXPROCS(0), loadLibrary)
	e.info.CPU, e.info.Features, e.info.Threads = cpuModel(), feats, e.threads
	return e
}

// selectEngine walks the candidates: the libraries in libraryOrder (or only the one STYLELAB_GEMM
// names), OpenBLAS over the core-type ladder (or the user's STYLELAB_OPENBLAS_CORETYPE alone), each
// verified; the Go engine last. inherited is the environment's OPENBLAS_CORETYPE, which is overridden
// while the library initialises (only reported). The returned engine's Reason says what was chosen and
// what failed before it.
func selectEngine(want, userCore, inherited string, ladder []string, threads int, load loader) *engine {
	var notes []string
	libs := libraryOrder
	switch want {
	case "":
	case "go":
		libs, notes = nil, append(notes, "STYLELAB_GEMM=go asks for the Go engine")
	case "openblas", "blis":
		libs = []string{want}
	default:
		libs, notes = nil, append(notes, fmt.Sprintf("STYLELAB_GEMM=%q is not one of openblas, blis, go (unset it to choose automatically)", want))
	}
	for _, name := range libs {
		cores := []string{""}
		if name == "openblas" {
			switch {
			case userCore != "":
				cores = []string{userCore}
			case len(ladder) > 0:
				cores = ladder
			}
		}
		for _, core := range cores {
			e, err := load(name, core, threads)
			if err != nil {
				notes = append(notes, err.Error())
				break
			}
			if name == "blis" && e.arch == "generic" && want != "blis" && kernelFor[float32]().name == "go-asm" {
				// Measured on an AMD EPYC (Zen 4), which BLIS 0.9 does not know: 3–4× slower than go-asm.
				notes = append(notes, "BLIS runs its generic kernels on this CPU, slower than the Go engine's assembly (STYLELAB_GEMM=blis forces it)")
				if e.lib != nil {
					e.lib.Close()
				}
				break
			}
			if err := verify(e); err != nil {
				notes = append(notes, fmt.Sprintf("%s failed the reference check (%v)", describe(e, core, userCore), err))
				if e.lib != nil {
					e.lib.Close()
				}
				continue
			}
			e.info.Verified = true
			e.info.Reason = describe(e, core, userCore) + " passed the reference check" + because(notes)
			if name == "openblas" && userCore != "" && len(ladder) > 0 && !strings.EqualFold(userCore, ladder[0]) {
				e.info.Reason += fmt.Sprintf(" (from CPUID stylelab would choose %s: unset STYLELAB_OPENBLAS_CORETYPE to use it)", ladder[0])
			}
			if name == "openblas" && userCore == "" && core != "" && inherited != "" && !strings.EqualFold(inherited, core) {
				e.info.Reason += fmt.Sprintf(" (the environment's OPENBLAS_CORETYPE=%s is not used: stylelab chooses the core type from CPUID and verifies it; set STYLELAB_OPENBLAS_CORETYPE=%s to force it)", inherited, inherited)
			}
			return e
		}
	}
	e := goEngine(threads)
	e.info.Verified = verify(e) == nil
	switch {
	case !e.info.Verified:
		e.info.Reason = "the Go engine FAILED its own reference check (a bug: please report it)" + because(notes)
	default:
		e.info.Reason = fmt.Sprintf("Go engine (packed, %d×%d %s microkernel)", kernelFor[float32]().mr, kernelFor[float32]().nr, kernelFor[float32]().isa) + because(notes)
	}
	return e
}

func describe(e *engine, core, userCore string) string {
	s := e.info.Engine
	if e.info.Library != "" {
		s += " (" + e.info.Library + ")"
	}
	switch {
	case e.info.Engine != "openblas":
	case userCore != "":
		s += fmt.Sprintf(" with STYLELAB_OPENBLAS_CORETYPE=%s (running %s)", userCore, e.info.CoreType)
	case core != "":
		s += fmt.Sprintf(" with core type %s chosen from CPUID (running %s)", core, e.info.CoreType)
	default:
		s += fmt.Sprintf(" with its own core detection (running %s)", e.info.CoreType)
	}
	return s
}

func because(notes []string) string {
	if len(notes) == 0 {
		return ""
	}
	return "; before it: " + strings.Join(notes, "; ")
}
