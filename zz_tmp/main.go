package main

import (
	"fmt"
	"time"

	"github.com/stylelab/stylelab/backends/gemm"
)

func bench(name string, f func()) {
	f()
	best := time.Hour
	for range 5 {
		t := time.Now()
		f()
		best = min(best, time.Since(t))
	}
	fmt.Printf("%-40s %8.2f ms\n", name, float64(best.Microseconds())/1000)
}

func main() {
	fmt.Println(gemm.Current().Engine, gemm.Current().CoreType)
	for _, c := range []struct{ m, k, n int }{{65536, 576, 3}, {65536, 2592, 3}, {65536, 27, 64}, {65536, 243, 32}, {4096, 1152, 128}} {
		a := make([]float32, c.m*c.k)
		b := make([]float32, c.k*c.n)
		o := make([]float32, c.m*c.n)
		for i := range a {
			a[i] = float32(i%7) * 0.1
		}
		for i := range b {
			b[i] = float32(i%5) * 0.1
		}
		gf := 2 * float64(c.m) * float64(c.k) * float64(c.n) / 1e9
		bench(fmt.Sprintf("NN m=%d k=%d n=%d (%.2f GF)", c.m, c.k, c.n, gf), func() {
			gemm.Sgemm(false, false, c.m, c.n, c.k, 1, a, c.k, b, c.n, 0, o, c.n)
		})
		ot := make([]float32, c.m*c.n)
		bench(fmt.Sprintf("T  (n×m = Bᵀ·Aᵀ)"), func() {
			gemm.Sgemm(true, true, c.n, c.m, c.k, 1, b, c.n, a, c.k, 0, ot, c.m)
		})
	}
}
