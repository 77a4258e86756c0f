package cpubackend

// bplan maps operands onto an output of the same rank where every operand axis either equals the output's or is 1
// (broadcast); a scalar operand broadcasts on every axis. Axes of output size 1 are dropped and neighbouring axes
// that broadcast the same way for every operand are merged, so the work is a loop over rows of the last merged
// axis, each row a contiguous run (stride 1) or one repeated value (stride 0) per operand.
type bplan struct {
	dims    []int   // merged output dimensions (empty: the output has one element)
	strides [][]int // per operand, per merged axis: element stride (0 = broadcast)
}

// newBPlan builds the plan for out dimensions and operand dimensions (nil or empty = scalar).
func newBPlan(out []int, ins ...[]int) bplan {
	p := bplan{strides: make([][]int, len(ins))}
	// Contiguous strides of each operand in its own layout.
	own := make([][]int, len(ins))
	for k, d := range ins {
		if len(d) == 0 {
			continue
		}
		s := make([]int, len(d))
		acc := 1
		for i := len(d) - 1; i >= 0; i-- {
			s[i] = acc
			acc *= d[i]
		}
		own[k] = s
	}
	var prevFlags []bool
	for ax, od := range out {
		if od == 1 {
			continue
		}
		flags := make([]bool, len(ins)) // true: operand k broadcasts along ax
		for k, d := range ins {
			flags[k] = len(d) == 0 || d[ax] == 1
		}
		same := prevFlags != nil
		for k := range flags {
			if same && flags[k] != prevFlags[k] {
				same = false
			}
		}
		if same {
			p.dims[len(p.dims)-1] *= od
			for k := range ins {
				if !flags[k] {
					p.strides[k][len(p.dims)-1] = own[k][ax]
				}
			}
		} else {
			p.dims = append(p.dims, od)
			for k := range ins {
				s := 0
				if !flags[k] {
					s = own[k][ax]
				}
				p.strides[k] = append(p.strides[k], s)
			}
		}
		prevFlags = flags
	}
	return p
}

// rowLen is the length of the last merged axis (1 for a one-element output).
func (p *bplan) rowLen() int {
	if len(p.dims) == 0 {
		return 1
	}
	return p.dims[len(p.dims)-1]
}

// numRows is the number of rows (product of all merged axes but the last).
func (p *bplan) numRows() int {
	n := 1
	for i := 0; i+1 < len(p.dims); i++ {
		n *= p.dims[i]
	}
	return n
}

// innerStride returns operand k's stride along the last merged axis (0 or 1).
func (p *bplan) innerStride(k int) int {
	if len(p.dims) == 0 {
		return 0
	}
	return p.strides[k][len(p.dims)-1]
}

// forRows calls fn(row, offs) for rows lo..hi-1, offs[k] being operand k's offset at the row's start.
func (p *bplan) forRows(lo, hi int, fn func(row int, offs []int)) {
	outer := len(p.dims) - 1
	if outer < 0 {
		outer = 0
	}
	idx := make([]int, outer)
	offs := make([]int, len(p.strides))
	r := lo
	for ax := outer - 1; ax >= 0; ax-- {
		idx[ax] = r % p.dims[ax]
		r /= p.dims[ax]
	}
	for k := range offs {
		for ax := 0; ax < outer; ax++ {
			offs[k] += idx[ax] * p.strides[k][ax]
		}
	}
	for row := lo; row < hi; row++ {
		fn(row, offs)
		for ax := outer - 1; ax >= 0; ax-- {
			idx[ax]++
			for k := range offs {
				offs[k] += p.strides[k][ax]
			}
			if idx[ax] < p.dims[ax] {
				break
			}
			for k := range offs {
				offs[k] -= idx[ax] * p.strides[k][ax]
			}
			idx[ax] = 0
		}
	}
}

// run returns s[off:off+n] for stride 1, s[off:off+1] for stride 0.
func run[T any](s []T, off, stride, n int) []T {
	if stride == 0 {
		return s[off : off+1]
	}
	return s[off : off+n]
}
