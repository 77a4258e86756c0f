package gemm

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// convShapes are the conv-shaped float32 products of a 128² Gatys step (m, n, k): im2col patches ×
// kernels, from docs/cpu notes: [16384×576]·[576×64], [4096×1152]·[1152×128], ...
var convShapes = [][3]int{{16384, 64, 576}, {4096, 128, 1152}, {1024, 256, 2304}, {256, 512, 4608}}

// benchEngine is an engine to benchmark, loaded on demand and closed after its runs.
type benchEngine struct {
	name string
	load func() (*engine, error)
}

// benchEngines: OpenBLAS per core type (split over goroutines, and with the library's own threads),
// BLIS (both ways), the Go engine with the assembly microkernel and the pure-Go one.
// STYLELAB_GEMM_BENCH=substring keeps only the engines whose name contains it.
func benchEngines() []benchEngine {
	threads := runtime.GOMAXPROCS(0)
	lib := func(name, core string, libThreads bool) func() (*engine, error) {
		return func() (*engine, error) {
			e, err := loadLibrary(name, core, threads)
			if err == nil && libThreads {
				e.lib.SetThreads(threads)
				e.threads = 1
			}
			return e, err
		}
	}
	var es []benchEngine
	for _, core := range []string{"SkylakeX", "Cooperlake", "Haswell", "Zen", "Sandybridge", ""} {
		es = append(es, benchEngine{"openblas-" + strings.ToLower(core) + "-split", lib("openblas", core, false)})
	}
	es = append(es,
		benchEngine{"openblas-skylakex-libthreads", lib("openblas", "SkylakeX", true)},
		benchEngine{"blis-split", lib("blis", "", false)},
		benchEngine{"blis-libthreads", lib("blis", "", true)},
		benchEngine{"go-asm", func() (*engine, error) { return goEngine(threads), nil }},
		benchEngine{"go-avx2", func() (*engine, error) { useAVX512 = false; return goEngine(threads), nil }},
		benchEngine{"go-portable", func() (*engine, error) { useAsm = false; return goEngine(threads), nil }},
	)
	if f := os.Getenv("STYLELAB_GEMM_BENCH"); f != "" {
		var keep []benchEngine
		for _, e := range es {
			if strings.Contains(e.name, f) {
				keep = append(keep, e)
			}
		}
		es = keep
	}
	return es
}

// withEngine loads be, runs fn, and unloads it (so that the next OpenBLAS core type initialises afresh).
func withEngine(b *testing.B, be benchEngine, fn func(e *engine)) {
	e, err := be.load()
	defer func() { useAsm, useAVX512 = useAsmDefault, useAVX512Default }()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", be.name, err)
		return
	}
	if e.lib != nil {
		defer e.lib.Close()
		fmt.Fprintf(os.Stderr, "%s: %s running %s\n", be.name, e.info.Library, e.lib.CoreName)
	}
	fn(e)
}

func benchProduct(b *testing.B, e *engine, m, n, k int) { benchProductT(b, e, false, false, m, n, k) }

func benchProductT(b *testing.B, e *engine, transA, transB bool, m, n, k int) {
	r := rand.New(rand.NewPCG(3, 4))
	a, bb, c := randSlice[float32](r, m*k), randSlice[float32](r, k*n), make([]float32, m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	run(e, e.s, transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n) // warm-up
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	b.ResetTimer()
	for range b.N {
		run(e, e.s, transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	}
	wall := time.Since(t0).Seconds()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/wall/1e9, "GFLOP/s")
	cpu := cpuSeconds(ru0, ru1)
	b.ReportMetric(cpu/wall, "cpu/wall")
	// On a shared machine the wall-clock figure depends on what else runs; per CPU-second it does less.
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/cpu/1e9, "GFLOP/cpu-s")
}

func cpuSeconds(r0, r1 syscall.Rusage) float64 {
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(r1.Utime) - tv(r0.Utime) + tv(r1.Stime) - tv(r0.Stime)
}

// BenchmarkConv: GFLOP/s of every engine on the conv-shaped products (compare within one run).
func BenchmarkConv(b *testing.B) {
	for _, be := range benchEngines() {
		withEngine(b, be, func(e *engine) {
			for _, s := range convShapes {
				b.Run(fmt.Sprintf("%s/%dx%dx%d", be.name, s[0], s[2], s[1]), func(b *testing.B) { benchProduct(b, e, s[0], s[1], s[2]) })
			}
		})
	}
}

// BenchmarkConvGrad: the gradient products of the first conv shape (16384×576·576×64) and a Gram
// matrix: dX = dY·Wᵀ (NT), dW = Xᵀ·dY (TN), G = Fᵀ·F (TN, 64 channels, 128² positions).
func BenchmarkConvGrad(b *testing.B) {
	shapes := []struct {
		name           string
		transA, transB bool
		m, n, k        int
	}{{"dX-NT-m16384-n576-k64", false, true, 16384, 576, 64}, {"dW-TN-m576-n64-k16384", true, false, 576, 64, 16384}, {"gram-TN-m64-n64-k16384", true, false, 64, 64, 16384}}
	for _, be := range benchEngines() {
		withEngine(b, be, func(e *engine) {
			for _, s := range shapes {
				b.Run(be.name+"/"+s.name, func(b *testing.B) { benchProductT(b, e, s.transA, s.transB, s.m, s.n, s.k) })
			}
		})
	}
}

// BenchmarkSmall: cubes of side 4..128, single-threaded, to find where a library call beats the Go kernel.
func BenchmarkSmall(b *testing.B) {
	for _, be := range benchEngines() {
		withEngine(b, be, func(e *engine) {
			e.threads = 1
			for _, s := range []int{4, 8, 16, 24, 32, 48, 64, 96, 128} {
				b.Run(fmt.Sprintf("%s/%d", be.name, s), func(b *testing.B) { benchProduct(b, e, s, s, s) })
			}
		})
	}
}

// BenchmarkIdleSpin: process CPU seconds per wall second while idle for 20 ms after a product; 1.0
// or more means library threads spin between calls, stealing CPU from the Go ops that follow.
func BenchmarkIdleSpin(b *testing.B) {
	for _, be := range benchEngines() {
		withEngine(b, be, func(e *engine) {
			b.Run(be.name, func(b *testing.B) {
				m, n, k := 1024, 256, 512
				r := rand.New(rand.NewPCG(3, 4))
				a, bb, c := randSlice[float32](r, m*k), randSlice[float32](r, k*n), make([]float32, m*n)
				var idle, cpu float64
				for range b.N {
					run(e, e.s, false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
					var r0, r1 syscall.Rusage
					syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
					t0 := time.Now()
					time.Sleep(20 * time.Millisecond)
					idle += time.Since(t0).Seconds()
					syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
					cpu += cpuSeconds(r0, r1)
				}
				b.ReportMetric(cpu/idle, "idle-cpu/wall")
			})
		})
	}
}
