package gemm

// goGemm is the pure-Go engine: C = alpha·op(A)·op(B) + beta·C.
func goGemm[T float32 | float64](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	scaleC(m, n, beta, c, ldc)
	if k == 0 || alpha == 0 {
		return
	}
	// op(B) row p as a contiguous slice.
	var bt []T
	if transB {
		bt = make([]T, k*n)
		for j := 0; j < n; j++ {
			for p := 0; p < k; p++ {
				bt[p*n+j] = b[j*ldb+p]
			}
		}
	}
	for i := 0; i < m; i++ {
		ci := c[i*ldc : i*ldc+n]
		for p := 0; p < k; p++ {
			var aip T
			if transA {
				aip = a[p*lda+i]
			} else {
				aip = a[i*lda+p]
			}
			aip *= alpha
			var bp []T
			if transB {
				bp = bt[p*n : p*n+n]
			} else {
				bp = b[p*ldb : p*ldb+n]
			}
			for j, v := range bp {
				ci[j] += aip * v
			}
		}
	}
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
	return &engine{s: goGemm[float32], d: goGemm[float64], threads: threads, info: Info{Engine: "go"}}
}
