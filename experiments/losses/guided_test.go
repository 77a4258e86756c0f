package losses

import (
	"fmt"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX code reads best with the graph ops unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// guidedOptionSets are option sets that reach every form of every loss on the standard pair (M_F = 36, M_S = 25):
// exact kernel matrices, the d = 2 closed form and the sampled estimators (GaussExactMax below 36²).
var guidedOptionSets = []struct {
	name string
	o    Options
}{
	{"exact", Options{PolyDegree: 2, PolyC: 0.5, GaussSamples: 16, GaussExactMax: 1 << 20}},
	{"closed-or-sampled", Options{PolyDegree: 2, PolyC: 0.5, GaussSamples: 16, GaussExactMax: 100}},
	{"sampled-poly3", Options{PolyDegree: 3, PolyC: 0.5, GaussSamples: 16, GaussExactMax: 100}},
}

// evalGuided evaluates the guided loss and the unguided loss on the same positions.
func evalGuided(t *testing.T, name string, o Options, f, s feat, guide []float64) (guided, plain float64) {
	t.Helper()
	gl, err := StyleGuidedAt(name, o)
	if err != nil {
		t.Fatal(err)
	}
	pl, _ := StyleAt(name, o)
	idxF := tensors.FromValue(SampleIndices(3, 1, f.m(), o.GaussSamples))
	idxS := tensors.FromValue(SampleIndices(3, 2, s.m(), o.GaussSamples))
	gt := tensors.FromFlatDataAndDimensions(guide, 1, f.h, f.w, 1)
	out, err := ExecOnce(backend(t), func(in []*Node) *Node {
		return Stack([]*Node{gl(in[0], in[1], in[2], in[3], in[4]), pl(in[0], in[1], in[3], in[4])}, 0)
	}, f.tensor(), s.tensor(), gt, idxF, idxS)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	v := out.Value().([]float64)
	return v[0], v[1]
}

// A guide covering every position (any constant) gives exactly the unguided loss, for every loss and form.
func TestGuidedFullGuideEqualsUnguided(t *testing.T) {
	f, s := standardPair(21)
	for _, os := range guidedOptionSets {
		for _, name := range Names {
			for _, c := range []float64{1, 3} {
				g := make([]float64, f.m())
				for i := range g {
					g[i] = c
				}
				got, want := evalGuided(t, name, os.o, f, s, g)
				assertRel(t, fmt.Sprintf("%s/%s guide %g", os.name, name, c), got, want, 1e-9)
			}
		}
	}
}

// A 0/1 guide makes the generated side the region's positions alone: the guided loss equals the unguided loss
// of the features restricted to the region (exact forms; the sampled ones are importance-weighted estimates).
func TestGuidedBinaryGuideEqualsRegionSubset(t *testing.T) {
	f, s := standardPair(22)
	var g []float64
	sub := feat{h: 1, n: f.n}
	for m := range f.m() {
		in := m%6 < 4 && m/6 >= 1 // a 4×5 block
		if in {
			g = append(g, 1)
			sub.data = append(sub.data, f.data[m*f.n:(m+1)*f.n]...)
			sub.w++
		} else {
			g = append(g, 0)
		}
	}
	o := guidedOptionSets[0].o
	for _, name := range Names {
		got, _ := evalGuided(t, name, o, f, s, g)
		loss, _ := Style(name, o)
		want := eval(t, loss, sub.tensor(), s.tensor())
		assertRel(t, name+" guided by a 0/1 region vs. unguided on the region's positions", got, want, 1e-9)
	}
}

// The guided Gram loss is the paper's guided Gram (GramMasked with the style side unguided).
func TestGuidedGramEqualsGramMasked(t *testing.T) {
	f, s := standardPair(23)
	r := testRNG(5)
	g := make([]float64, f.m())
	for i := range g {
		g[i] = r.Float64()
	}
	got, _ := evalGuided(t, "gram", DefaultOptions(), f, s, g)
	ones := make([]float64, s.m())
	for i := range ones {
		ones[i] = 1
	}
	out, err := ExecOnce(backend(t), func(F, S *Node) *Node {
		return GramMasked(F, S, Const(F.Graph(), tensors.FromFlatDataAndDimensions(g, f.h, f.w)),
			Const(F.Graph(), tensors.FromFlatDataAndDimensions(ones, s.h, s.w)))
	}, f.tensor(), s.tensor())
	if err != nil {
		t.Fatal(err)
	}
	assertRel(t, "guided gram vs GramMasked", got, scalarOf(t, out), 1e-9)
}

// Prepared.Guided equals StyleGuidedAt for the losses with a prepared form.
func TestPreparedGuidedMatches(t *testing.T) {
	f, s := standardPair(24)
	r := testRNG(6)
	g := make([]float64, f.m())
	for i := range g {
		g[i] = r.Float64()
	}
	for _, name := range []string{"gram", "mmd-linear", "meanvar"} {
		p, ok, err := StylePrepared(name, DefaultOptions())
		if err != nil || !ok || p.Guided == nil {
			t.Fatalf("%s: prepared %v %v", name, ok, err)
		}
		want, _ := evalGuided(t, name, DefaultOptions(), f, s, g)
		out, err := ExecOnce(backend(t), func(F, S, T *Node) *Node { return p.Guided(F, T, p.Target(S)) },
			f.tensor(), s.tensor(), tensors.FromFlatDataAndDimensions(g, 1, f.h, f.w, 1))
		if err != nil {
			t.Fatal(err)
		}
		assertRel(t, name+" prepared guided", scalarOf(t, out), want, 1e-12)
	}
}
