package cpubackend

import "sync"

// parallelFor runs fn over [0, n) split into contiguous chunks of at least grain items, one goroutine per chunk
// and at most b.workers chunks. Ops use it only where each output value is computed by exactly one chunk with a
// fixed order inside it, so the result never depends on how the range is split.
func (b *Backend) parallelFor(n, grain int, fn func(lo, hi int)) {
	b.chunks(n, grain, func(_, lo, hi int) { fn(lo, hi) })
}

// parallelForErr is parallelFor for work that can fail: each chunk's error goes to a slot of its own (no goroutine
// writes a variable another one writes), and the error of the first failing chunk in range order is returned.
func (b *Backend) parallelForErr(n, grain int, fn func(lo, hi int) error) error {
	errs := make([]error, b.workers)
	b.chunks(n, grain, func(c, lo, hi int) { errs[c] = fn(lo, hi) })
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// chunks calls fn(c, lo, hi) for chunk c (0 ≤ c < b.workers) of [0, n), chunk 0 on the calling goroutine.
func (b *Backend) chunks(n, grain int, fn func(c, lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	chunks := min(b.workers, (n+grain-1)/grain)
	if chunks <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	var wg sync.WaitGroup
	per := (n + chunks - 1) / chunks
	for c, lo := 1, per; lo < n; c, lo = c+1, lo+per {
		wg.Add(1)
		go func(c, lo, hi int) {
			defer wg.Done()
			fn(c, lo, hi)
		}(c, lo, min(lo+per, n))
	}
	fn(0, 0, min(per, n))
	wg.Wait()
}

// elemGrain is the number of elementwise operations below which an op runs on one goroutine.
const elemGrain = 1 << 15
