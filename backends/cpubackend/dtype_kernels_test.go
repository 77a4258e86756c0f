package cpubackend

import (
	"reflect"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// TestDTypeTable: every storage type has kernels, and they work on that type's Go slices: Add and Sub give
// what Go's own arithmetic gives, a comparison fills bools, and ConvertDType between every pair of types gives
// Go's conversion (bool: x ≠ 0, and 1/0 back). The differential tests cover float32/64, int32/64 and bool in
// depth; this covers the other instantiations of the same generic code.
func TestDTypeTable(t *testing.T) {
	vals := []float64{0, 1, 2, 5, 7, 100, 3}
	fill := func(dt dtypes.DType) any {
		flat := makeFlat(dt, len(vals))
		v := reflect.ValueOf(flat)
		for i, x := range vals {
			if dt == dtypes.Bool {
				v.Index(i).SetBool(x != 0)
			} else {
				v.Index(i).Set(reflect.ValueOf(x).Convert(dt.GoType()))
			}
		}
		return flat
	}
	for dt := range supportedDTypes {
		k := dtypeKernels[dt]
		if k == nil {
			t.Fatalf("no kernels for %s", dt)
		}
		a, b := fill(dt), fill(dt)
		if dt != dtypes.Bool {
			reflect.ValueOf(b).Index(0).Set(reflect.ValueOf(3.0).Convert(dt.GoType()))
			out := makeFlat(dt, len(vals))
			if err := k.binary(backends.OpTypeAdd, out, a, b, rowBlock{n: len(vals), rows: 1, sa: 1, sb: 1}); err != nil {
				t.Fatalf("%s Add: %v", dt, err)
			}
			for i := range vals {
				x, y := reflect.ValueOf(a).Index(i), reflect.ValueOf(b).Index(i)
				var want reflect.Value
				switch {
				case dt.IsFloat():
					want = reflect.ValueOf(x.Float() + y.Float()).Convert(dt.GoType())
				case dt.IsUnsigned():
					want = reflect.ValueOf(x.Uint() + y.Uint()).Convert(dt.GoType())
				default:
					want = reflect.ValueOf(x.Int() + y.Int()).Convert(dt.GoType())
				}
				if got := reflect.ValueOf(out).Index(i).Interface(); got != want.Interface() {
					t.Errorf("%s: %v + %v = %v, want %v", dt, x, y, got, want)
				}
			}
			// Scalar rhs (stride 0) and a comparison into bools.
			gt := make([]bool, len(vals))
			if err := k.binary(backends.OpTypeGreaterThan, gt, a, b, rowBlock{n: len(vals), rows: 1, sa: 1}); err != nil {
				t.Fatalf("%s GreaterThan: %v", dt, err)
			}
			for i, v := range vals {
				if gt[i] != (v > 3) {
					t.Errorf("%s: %v > 3 gave %v", dt, v, gt[i])
				}
			}
		}
		for to := range supportedDTypes {
			if to == dt {
				continue
			}
			dst := makeFlat(to, len(vals))
			if err := convertRange(dst, a, 0, len(vals)); err != nil {
				t.Fatalf("%s → %s: %v", dt, to, err)
			}
			for i, x := range vals {
				want := reflect.ValueOf(x != 0)
				switch {
				case to == dtypes.Bool:
				case dt == dtypes.Bool && x != 0:
					want = reflect.ValueOf(1.0).Convert(to.GoType())
				case dt == dtypes.Bool:
					want = reflect.ValueOf(0.0).Convert(to.GoType())
				default:
					want = reflect.ValueOf(x).Convert(to.GoType())
				}
				if got := reflect.ValueOf(dst).Index(i).Interface(); got != want.Interface() {
					t.Errorf("%s → %s: %v gave %v, want %v", dt, to, x, got, want)
				}
			}
		}
	}
}
