package gemm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// testEngines are the engines available here: the libraries that load (with the core type the
// start-up ladder puts first) and both Go kernels.
func testEngines(t *testing.T) map[string]*engine {
	t.Helper()
	threads := max(2, runtime.GOMAXPROCS(0))
	es := map[string]*engine{"go": goEngine(threads)}
	if useAsmDefault {
		es["go-asm"] = goEngine(threads)
	}
	if useAVX512Default {
		es["go-avx2"] = goEngine(threads)
	}
	ladder := coreTypes(cpuFeatures(), cpuVendorAMD())
	for _, name := range []string{"openblas", "blis"} {
		core := ""
		if name == "openblas" && len(ladder) > 0 && os.Getenv("STYLELAB_OPENBLAS_CORETYPE") == "" {
			core = ladder[0]
		}
		e, err := loadLibrary(name, core, threads)
		if err != nil {
			t.Logf("%s not tested: %v", name, err)
			continue
		}
		t.Cleanup(e.lib.Close)
		t.Logf("%s: %s running %s", name, e.info.Library, e.lib.CoreName)
		es[name] = e
	}
	return es
}

// withKernel runs fn with the portable Go microkernel when name is "go", the AVX2 one for "go-avx2",
// the CPU's best otherwise.
func withKernel(name string, fn func()) {
	useAsm = useAsmDefault && name != "go"
	useAVX512 = useAVX512Default && name != "go-avx2"
	defer func() { useAsm, useAVX512 = useAsmDefault, useAVX512Default }()
	fn()
}

// TestEachEngine: every available engine, through the splitting path, against the naive reference.
func TestEachEngine(t *testing.T) {
	for name, e := range testEngines(t) {
		t.Run(name, func(t *testing.T) {
			withKernel(name, func() {
				testEngine(t, func(tA, tB bool, m, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
					run(e, e.s, tA, tB, m, n, k, al, a, lda, b, ldb, be, c, ldc)
				})
				testEngine(t, func(tA, tB bool, m, n, k int, al float64, a []float64, lda int, b []float64, ldb int, be float64, c []float64, ldc int) {
					run(e, e.d, tA, tB, m, n, k, al, a, lda, b, ldb, be, c, ldc)
				})
			})
		})
	}
}

func bytesOf(x []float32) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, x)
	return buf.Bytes()
}

// TestDeterminism: on every engine, the same product (cut into parts) gives the same bytes on every
// call and with 1, 2, 3 or 5 goroutines; for the Go engine also the same as one uncut call.
func TestDeterminism(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for name, e := range testEngines(t) {
		t.Run(name, func(t *testing.T) {
			withKernel(name, func() {
				for tr := 0; tr < 8; tr++ {
					m, n := 1389, 71 // cut along M
					if tr >= 4 {
						m, n = 71, 1389 // along N
					}
					p := newProblem[float32](r, tr&1 != 0, tr&2 != 0, m, n, 300, 2, 1.25, 0.5)
					if _, parts, _ := partition(m, n, 300, e.partMNK); parts < 3 {
						t.Fatalf("%v is cut into %d parts; the test wants at least 3", p, parts)
					}
					with := func(threads int, partMNK float64) []byte {
						e1 := *e
						e1.threads, e1.partMNK = threads, partMNK
						return bytesOf(p.run(func(tA, tB bool, m, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
							run(&e1, e1.s, tA, tB, m, n, k, al, a, lda, b, ldb, be, c, ldc)
						}))
					}
					want := with(2, e.partMNK)
					for i, threads := range []int{2, 2, 1, 3, 5} {
						if !bytes.Equal(with(threads, e.partMNK), want) {
							t.Fatalf("%v: run %d with %d goroutines gave other bytes than with 2", p, i, threads)
						}
					}
					if whole := with(1, 1e300); e.lib == nil && !bytes.Equal(whole, want) {
						t.Fatalf("%v: the Go engine gives other bytes uncut than cut", p)
					} else if !bytes.Equal(whole, want) {
						t.Logf("%v: uncut gives other bytes than cut (allowed for a library)", p)
					}
				}
			})
		})
	}
}

// TestPartition: parts tile the cut dimension exactly, at multiples of 16 (M) or 8 (N), within the
// limits on their number and width, and small products stay whole.
func TestPartition(t *testing.T) {
	for _, s := range [][3]int{{1, 1, 1}, {16384, 64, 576}, {64, 4096, 64}, {33, 31, 1 << 20}, {1000, 1000, 1000}, {17, 1000, 1000}, {100, 100, 10}, {4096, 4096, 4096}} {
		m, n, k := s[0], s[1], s[2]
		size, parts, alongM := partition(m, n, k, parallelMNK)
		dim := map[bool]int{true: m, false: n}[alongM]
		align := map[bool]int{true: 16, false: 8}[alongM]
		if parts < 1 || parts > maxParts || (parts-1)*size >= dim || parts*size < dim || (parts > 1 && (size%align != 0 || size < minPartDim)) {
			t.Errorf("partition(%d,%d,%d) = %d parts of %d along M=%v: does not tile %d", m, n, k, parts, size, alongM, dim)
		}
		if float64(m)*float64(n)*float64(k) < 2*parallelMNK && parts != 1 {
			t.Errorf("partition(%d,%d,%d): %d parts for a small product", m, n, k, parts)
		}
		if alongM != (m >= n) {
			t.Errorf("partition(%d,%d,%d) cuts along M=%v", m, n, k, alongM)
		}
	}
	// Worked examples of the rule: 16384 rows → 16 parts of 1024; 64×64 Gram → 2 of 32; 1024 rows →
	// 4 of 256 (one per 256 rows); 512 columns → 2 of 256.
	for _, c := range [][5]int{{16384, 64, 576, 1024, 16}, {64, 64, 16384, 32, 2}, {1024, 256, 2304, 256, 4}, {256, 512, 4608, 256, 2}} {
		if size, parts, _ := partition(c[0], c[1], c[2], parallelMNK); size != c[3] || parts != c[4] {
			t.Errorf("partition(%d,%d,%d) = %d parts of %d, want %d of %d", c[0], c[1], c[2], parts, size, c[4], c[3])
		}
	}
}

// fakeLoader serves Go engines posing as libraries; bad[name+"/"+core] makes that one add 1e-3 to
// C[0,0], bad[name+"/generic"] makes it report BLIS's generic kernels, missing[name] makes loading fail.
func fakeLoader(bad, missing map[string]bool, loaded *[]string) loader {
	return func(name, core string, threads int) (*engine, error) {
		*loaded = append(*loaded, name+"/"+core)
		if missing[name] {
			return nil, errors.New(name + " not loaded (no such file)")
		}
		e := goEngine(threads)
		e.info.Engine, e.info.Library, e.info.CoreType = name, "/fake/lib"+name+".so", core
		if bad[name+"/generic"] {
			e.arch = "generic"
		}
		if bad[name+"/"+core] {
			e.s = func(tA, tB bool, m, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
				goGemm(tA, tB, m, n, k, al, a, lda, b, ldb, be, c, ldc)
				c[0] += 1e-3
			}
		}
		return e, nil
	}
}

// TestFallback: a library computing wrong results is refused, the next core type is tried, then
// the next library, then the Go engine; Reason says what happened; STYLELAB_GEMM is honoured.
func TestFallback(t *testing.T) {
	ladder := []string{"SkylakeX", "Haswell", "Sandybridge"}
	cases := []struct {
		name, want, userCore, inherited string
		bad, missing                    map[string]bool
		engine, core                    string
		tried                           string
		reason                          []string
	}{
		{name: "first core good", engine: "openblas", core: "SkylakeX", tried: "openblas/SkylakeX",
			reason: []string{"core type SkylakeX chosen from CPUID", "passed"}},
		{name: "next-lower core", bad: map[string]bool{"openblas/SkylakeX": true}, engine: "openblas", core: "Haswell",
			tried: "openblas/SkylakeX openblas/Haswell", reason: []string{"SkylakeX", "failed the reference check", "C[0,0]", "Haswell"}},
		{name: "all cores bad, BLIS", bad: map[string]bool{"openblas/SkylakeX": true, "openblas/Haswell": true, "openblas/Sandybridge": true},
			engine: "blis", tried: "openblas/SkylakeX openblas/Haswell openblas/Sandybridge blis/", reason: []string{"Sandybridge", "failed"}},
		{name: "everything bad, Go", bad: map[string]bool{"openblas/SkylakeX": true, "openblas/Haswell": true, "openblas/Sandybridge": true, "blis/": true},
			engine: "go", tried: "openblas/SkylakeX openblas/Haswell openblas/Sandybridge blis/", reason: []string{"Go engine", "blis", "failed the reference check"}},
		{name: "no libraries", missing: map[string]bool{"openblas": true, "blis": true}, engine: "go",
			tried: "openblas/SkylakeX blis/", reason: []string{"openblas not loaded", "blis not loaded"}},
		{name: "user core type", userCore: "Haswell", engine: "openblas", core: "Haswell", tried: "openblas/Haswell",
			reason: []string{"STYLELAB_OPENBLAS_CORETYPE=Haswell", "stylelab would choose SkylakeX: unset STYLELAB_OPENBLAS_CORETYPE"}},
		{name: "user core type as CPUID's", userCore: "skylakex", engine: "openblas", core: "skylakex", tried: "openblas/skylakex", reason: []string{"STYLELAB_OPENBLAS_CORETYPE=skylakex (running"}},
		{name: "user core type bad", userCore: "Zen", bad: map[string]bool{"openblas/Zen": true}, engine: "blis", tried: "openblas/Zen blis/",
			reason: []string{"STYLELAB_OPENBLAS_CORETYPE=Zen", "failed"}},
		{name: "inherited OPENBLAS_CORETYPE not followed", inherited: "Haswell", engine: "openblas", core: "SkylakeX", tried: "openblas/SkylakeX",
			reason: []string{"chosen from CPUID", "OPENBLAS_CORETYPE=Haswell is not used", "STYLELAB_OPENBLAS_CORETYPE=Haswell"}},
		{name: "STYLELAB_GEMM=go", want: "go", engine: "go", tried: "", reason: []string{"STYLELAB_GEMM=go"}},
		{name: "STYLELAB_GEMM=blis", want: "blis", engine: "blis", tried: "blis/"},
		{name: "STYLELAB_GEMM=blis missing", want: "blis", missing: map[string]bool{"blis": true}, engine: "go", tried: "blis/",
			reason: []string{"blis not loaded"}},
		{name: "generic BLIS", missing: map[string]bool{"openblas": true}, bad: map[string]bool{"blis/generic": true}, engine: "go", tried: "openblas/SkylakeX blis/",
			reason: []string{"generic kernels"}},
		{name: "generic BLIS forced", want: "blis", bad: map[string]bool{"blis/generic": true}, engine: "blis", tried: "blis/"},
		{name: "STYLELAB_GEMM invalid", want: "mkl", engine: "go", tried: "", reason: []string{`"mkl" is not one of openblas, blis, go`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var tried []string
			e := selectEngine(c.want, c.userCore, c.inherited, ladder, 2, fakeLoader(c.bad, c.missing, &tried))
			t.Logf("reason: %s", e.info.Reason)
			if e.info.Engine != c.engine && !(c.engine == "go" && strings.HasPrefix(e.info.Engine, "go")) {
				t.Errorf("engine %q, want %q", e.info.Engine, c.engine)
			}
			if c.engine == "openblas" && e.info.CoreType != c.core {
				t.Errorf("core type %q, want %q", e.info.CoreType, c.core)
			}
			if !e.info.Verified {
				t.Errorf("the chosen engine is not verified")
			}
			if got := strings.Join(tried, " "); got != c.tried {
				t.Errorf("tried %q, want %q", got, c.tried)
			}
			for _, s := range c.reason {
				if !strings.Contains(e.info.Reason, s) {
					t.Errorf("reason %q lacks %q", e.info.Reason, s)
				}
			}
			// The chosen engine computes correct products.
			p := newProblem[float32](rand.New(rand.NewPCG(1, 1)), false, true, 70, 40, 90, 1, 1, 0)
			if err := p.check(p.run(func(tA, tB bool, m, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, cc []float32, ldc int) {
				run(e, e.s, tA, tB, m, n, k, al, a, lda, b, ldb, be, cc, ldc)
			})); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestCurrent: the process's engine is verified, says why, and reports the CPU.
func TestCurrent(t *testing.T) {
	info := Current()
	t.Logf("%+v", info)
	if !info.Verified || info.Reason == "" || info.Threads < 1 {
		t.Errorf("Current() = %+v: want verified, a reason and threads", info)
	}
	if runtime.GOOS == "linux" && info.CPU == "" {
		t.Errorf("no CPU model read from /proc/cpuinfo")
	}
	if (info.Library == "") != strings.HasPrefix(info.Engine, "go") {
		t.Errorf("engine %q with library %q", info.Engine, info.Library)
	}
	if os.Getenv("STYLELAB_REQUIRE_BLAS") != "" && info.Engine != "openblas" {
		t.Errorf("STYLELAB_REQUIRE_BLAS is set but the engine is %q: %s. Install OpenBLAS (apt-get install -y libopenblas0-pthread, "+
			"or scripts/install-deps.sh), build with cgo, and leave STYLELAB_GEMM unset", info.Engine, info.Reason)
	}
}

// TestBuildsWithoutCgo: the package (and its internal/blas) vets and its tests compile with
// CGO_ENABLED=0, where only the Go engine exists.
func TestBuildsWithoutCgo(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	for _, args := range [][]string{{"vet", "."}, {"vet", "./internal/blas"}, {"test", "-count=1", "-run", "TestCurrent|TestGoEngine", "."}} {
		cmd := exec.Command(goCmd, args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "STYLELAB_REQUIRE_BLAS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("CGO_ENABLED=0 go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestCoreTypeReload: the start-up ladder can move to the next core type, i.e. unloading OpenBLAS and
// loading it again with another OPENBLAS_CORETYPE really re-initialises it. Runs in a child process,
// where nothing else holds the library.
func TestCoreTypeReload(t *testing.T) {
	ladder := coreTypes(cpuFeatures(), cpuVendorAMD())
	if os.Getenv("GEMM_RELOAD_CHILD") == "1" {
		for _, core := range ladder {
			e, err := loadLibrary("openblas", core, 2)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.EqualFold(e.lib.CoreName, core) {
				t.Fatalf("asked for core type %s, OpenBLAS runs %s: the library was not re-initialised", core, e.lib.CoreName)
			}
			if err := verify(e); err != nil {
				t.Fatalf("core type %s: %v", core, err)
			}
			t.Logf("core type %s loaded, running %s, verified", core, e.lib.CoreName)
			e.lib.Close()
		}
		return
	}
	if len(ladder) < 2 {
		t.Skip("this CPU's ladder has fewer than two core types")
	}
	if e, err := loadLibrary("openblas", "", 1); err != nil {
		t.Skipf("OpenBLAS not available: %v", err)
	} else {
		e.lib.Close()
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCoreTypeReload$", "-test.v")
	cmd.Env = append(os.Environ(), "GEMM_RELOAD_CHILD=1", "OPENBLAS_CORETYPE=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

// TestConcurrentCallers: products computed from several goroutines at once (as a backend running
// independent ops may) give the same bytes as computed one at a time, on every engine.
func TestConcurrentCallers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var ps []problem[float32]
	for i := range 6 {
		ps = append(ps, newProblem[float32](r, i&1 != 0, i&2 != 0, 150+i*7, 90-i*5, 200+i*11, 1, 1, 0.5))
	}
	for name, e := range testEngines(t) {
		t.Run(name, func(t *testing.T) {
			withKernel(name, func() {
				f := func(tA, tB bool, m, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
					run(e, e.s, tA, tB, m, n, k, al, a, lda, b, ldb, be, c, ldc)
				}
				want := make([][]byte, len(ps))
				for i, p := range ps {
					want[i] = bytesOf(p.run(f))
				}
				got := make([][]byte, len(ps)*3)
				var wg sync.WaitGroup
				for i := range got {
					wg.Go(func() { got[i] = bytesOf(ps[i%len(ps)].run(f)) })
				}
				wg.Wait()
				for i := range got {
					if !bytes.Equal(got[i], want[i%len(ps)]) {
						t.Fatalf("%v: concurrent call gave different bytes", ps[i%len(ps)])
					}
				}
			})
		})
	}
}

// TestVerifySplits: the start-up check sends products through the split over goroutines (both
// directions), so a library that is wrong only on sub-matrices (offsets, strides) is caught too.
func TestVerifySplits(t *testing.T) {
	var mu sync.Mutex
	calls := map[[3]int]int{}
	e := goEngine(2)
	e.s = func(tA, tB bool, m, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
		mu.Lock()
		calls[[3]int{m, n, k}]++
		mu.Unlock()
		goGemm(tA, tB, m, n, k, al, a, lda, b, ldb, be, c, ldc)
	}
	if err := verify(e); err != nil {
		t.Fatal(err)
	}
	for _, s := range verifyShapes[:3] {
		if calls[s] != 0 {
			t.Errorf("%v was computed whole, not split: %v", s, calls)
		}
	}
	// A part function that is wrong only when given a part (m or n smaller than the whole) is refused.
	e.s = func(tA, tB bool, m, n, k int, al float32, a []float32, lda int, b []float32, ldb int, be float32, c []float32, ldc int) {
		goGemm(tA, tB, m, n, k, al, a, lda, b, ldb, be, c, ldc)
		if n == 59 { // the second part of 9×131×160 along N
			c[0] = -c[0]
		}
	}
	if err := verify(e); err == nil {
		t.Errorf("an engine wrong on one part passed the check")
	}
}
