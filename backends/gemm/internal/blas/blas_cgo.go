//go:build cgo && linux

// Package blas loads a BLAS library (OpenBLAS or BLIS) at run time with dlopen and calls its
// cblas_sgemm/cblas_dgemm (row-major). It is the cgo half of backends/gemm, kept apart because a
// package using cgo cannot also hold Go assembly.
package blas

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>

// CBLAS enum values (cblas.h): row-major 101, no-transpose 111, transpose 112.
typedef void (*sgemm_fn)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
typedef void (*dgemm_fn)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*, int);
typedef void (*int_fn)(int);
typedef char* (*str_fn)(void);
typedef int (*arch_id_fn)(void);
typedef char* (*arch_str_fn)(int);

static void call_sgemm(void* f, int ta, int tb, int m, int n, int k, float alpha, const float* a, int lda,
                       const float* b, int ldb, float beta, float* c, int ldc) {
	((sgemm_fn)f)(101, ta ? 112 : 111, tb ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
static void call_dgemm(void* f, int ta, int tb, int m, int n, int k, double alpha, const double* a, int lda,
                       const double* b, int ldb, double beta, double* c, int ldc) {
	((dgemm_fn)f)(101, ta ? 112 : 111, tb ? 112 : 111, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
static void call_int(void* f, int x) { ((int_fn)f)(x); }
static const char* call_str(void* f) { return ((str_fn)f)(); }
static const char* call_arch(void* id, void* str) { return ((arch_str_fn)str)(((arch_id_fn)id)()); }
static const char* lib_path(void* sym) {
	Dl_info info;
	if (dladdr(sym, &info) && info.dli_fname) return info.dli_fname;
	return "";
}
*/
import "C"

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"
)

// Lib is one loaded BLAS library.
type Lib struct {
	handle       unsafe.Pointer
	sgemm, dgemm unsafe.Pointer
	setThreads   unsafe.Pointer // openblas_set_num_threads / bli_thread_set_num_threads
	Path         string         // the file loaded (from dladdr)
	CoreName     string         // what the library says it runs: OpenBLAS corename, BLIS arch
}

func multiarch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64-linux-gnu"
	case "arm64":
		return "aarch64-linux-gnu"
	}
	return runtime.GOARCH + "-linux-gnu"
}

// libraryCandidates are the names tried with dlopen, in order: the plain soname (found through
// LD_LIBRARY_PATH or the loader cache), then Debian's per-threading-model folders.
func libraryCandidates(name string) []string {
	soname := map[string]string{"openblas": "libopenblas.so.0", "blis": "libblis.so.4"}[name]
	dir := "/usr/lib/" + multiarch() + "/"
	return []string{soname, dir + name + "-pthread/" + soname, dir + name + "-serial/" + soname, dir + name + "-openmp/" + soname}
}

func dlerror() string {
	if e := C.dlerror(); e != nil {
		return C.GoString(e)
	}
	return "unknown dlopen error"
}

func (l *Lib) sym(name string) unsafe.Pointer {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.dlsym(l.handle, cs)
}

// Load dlopens the library named "openblas" or "blis". For OpenBLAS, coreType ("" = the
// library's own detection) is put in OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS=libThreads for the
// library's initialisation only; the process environment is restored afterwards. A user-set
// OPENBLAS_CORETYPE is left alone (the caller passes coreType "" then).
func Load(name, coreType string, libThreads int) (*Lib, error) {
	if name == "openblas" {
		restore := setenvTemp(map[string]string{"OPENBLAS_CORETYPE": coreType, "OPENBLAS_NUM_THREADS": fmt.Sprint(libThreads)})
		defer restore()
	} else {
		restore := setenvTemp(map[string]string{"BLIS_NUM_THREADS": fmt.Sprint(libThreads)})
		defer restore()
	}
	var errs []string
	for _, path := range libraryCandidates(name) {
		cp := C.CString(path)
		h := C.dlopen(cp, C.RTLD_NOW|C.RTLD_LOCAL)
		C.free(unsafe.Pointer(cp))
		if h == nil {
			errs = append(errs, dlerror())
			continue
		}
		l := &Lib{handle: h}
		l.sgemm, l.dgemm = l.sym("cblas_sgemm"), l.sym("cblas_dgemm")
		if name == "openblas" {
			l.setThreads = l.sym("openblas_set_num_threads")
			if f := l.sym("openblas_get_corename"); f != nil {
				l.CoreName = C.GoString(C.call_str(f))
			}
		} else {
			l.setThreads = l.sym("bli_thread_set_num_threads")
			id, str := l.sym("bli_arch_query_id"), l.sym("bli_arch_string")
			if id != nil && str != nil {
				l.CoreName = C.GoString(C.call_arch(id, str))
			}
		}
		if l.sgemm == nil || l.dgemm == nil || l.setThreads == nil {
			C.dlclose(h)
			errs = append(errs, path+": lacks cblas_sgemm, cblas_dgemm or the thread-count function")
			continue
		}
		l.Path = C.GoString(C.lib_path(l.sgemm))
		if real, err := filepath.EvalSymlinks(l.Path); err == nil {
			l.Path = real
		}
		l.SetThreads(libThreads)
		return l, nil
	}
	return nil, fmt.Errorf("%s not loaded (%s)", name, strings.Join(errs, "; "))
}

// setenvTemp sets the non-empty values (os.Setenv reaches C's environment in cgo builds) and
// returns a function restoring the previous state.
func setenvTemp(vals map[string]string) func() {
	type old struct {
		v  string
		ok bool
	}
	prev := map[string]old{}
	for k, v := range vals {
		if v == "" {
			continue
		}
		ov, ok := os.LookupEnv(k)
		prev[k] = old{ov, ok}
		os.Setenv(k, v)
	}
	return func() {
		for k, o := range prev {
			if o.ok {
				os.Setenv(k, o.v)
			} else {
				os.Unsetenv(k)
			}
		}
	}
}

// SetThreads sets the library's thread count.
func (l *Lib) SetThreads(n int) { C.call_int(l.setThreads, C.int(n)) }

// Close unloads the library so that a later Load initialises it afresh (with another core type).
func (l *Lib) Close() { C.dlclose(l.handle) }

// Fits reports whether every size and stride fits the library's 32-bit integers.
func Fits(xs ...int) bool {
	for _, x := range xs {
		if x > math.MaxInt32 {
			return false
		}
	}
	return true
}

// Sgemm calls cblas_sgemm (row-major): C = alpha·op(A)·op(B) + beta·C. The caller checks the
// arguments: sizes ≥ 1, slices long enough, and Fits.
func (l *Lib) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	C.call_sgemm(l.sgemm, cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k), C.float(alpha),
		(*C.float)(unsafe.Pointer(&a[0])), C.int(lda), (*C.float)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.float(beta), (*C.float)(unsafe.Pointer(&c[0])), C.int(ldc))
}

// Dgemm calls cblas_dgemm, as Sgemm.
func (l *Lib) Dgemm(transA, transB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	C.call_dgemm(l.dgemm, cbool(transA), cbool(transB), C.int(m), C.int(n), C.int(k), C.double(alpha),
		(*C.double)(unsafe.Pointer(&a[0])), C.int(lda), (*C.double)(unsafe.Pointer(&b[0])), C.int(ldb),
		C.double(beta), (*C.double)(unsafe.Pointer(&c[0])), C.int(ldc))
}

func cbool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}
