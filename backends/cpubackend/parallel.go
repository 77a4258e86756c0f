package cpubackend

import "sync"

// parallelFor runs fn over [0, n) split into contiguous chunks of at least grain items, one goroutine per chunk
// and at most b.workers chunks. Ops use it only where each output value is computed by exactly one chunk with a
// fixed order inside it, so the result never depends on how the range is split.
func (b *Backend) parallelFor(n, grain int, fn func(lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	chunks := min(b.workers, (n+grain-1)/grain)
	if chunks <= 1 {
		if n > 0 {
			fn(0, n)
		}
		return
	}
	var wg sync.WaitGroup
	per := (n + chunks - 1) / chunks
	for lo := per; lo < n; lo += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			fn(lo, hi)
		}(lo, min(lo+per, n))
	}
	fn(0, min(per, n))
	wg.Wait()
}

// elemGrain is the number of elementwise operations below which an op runs on one goroutine.
const elemGrain = 1 << 15
