package cpubackend

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// memNet is a small convolutional network and its input gradient at size×size, with many values alive at once:
// six 3×3 convolutions of 32 channels with ReLUs, the gradient of Σ y² with respect to the image.
func memNet(x *graph.Node) *graph.Node {
	g := x.Graph()
	h := x
	cin := 3
	for i := range 6 {
		k := graph.ConstTensor(g, tensors.FromFlatDataAndDimensions(seq(9*cin*32, float32(i+1)), 3, 3, cin, 32))
		h = graph.Max(graph.Convolve(h, k).PadSame().Done(), graph.ScalarZero(g, dtypes.Float32))
		cin = 32
	}
	return graph.Gradient(graph.ReduceAllSum(graph.Mul(h, h)), x)[0]
}

func seq(n int, scale float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(math.Sin(float64(i)*0.7)) * 0.2 / scale
	}
	return s
}

// memChild runs memNet at the size in $CPUBACKEND_MEMCHILD twice and prints {"predicted", "measured"} bytes: the
// prediction is the process's RSS when the step's graph compiles, less the pool's storage (reused), plus the
// estimate; the measurement is the peak RSS (VmHWM) at the end.
func memChild(t *testing.T, size int) {
	be := must(New(""))
	var predicted int64
	e := graph.MustNewExec(be, memNet)
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 1, size, size, 3))
	x.MustMutableFlatData(func(f any) { copy(f.([]float32), seq(size*size*3, 1)) })
	for range 2 {
		outs, err := e.Exec(x)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			o.FinalizeAll()
		}
		if predicted == 0 {
			predicted = be.(*Backend).LastCompiled().ProcessBytes
		}
	}
	hwm, err := procStatus("VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]int64{"predicted": predicted, "measured": hwm})
}

// TestMemoryEstimateMatchesRSS: at three sizes, in a fresh process each, the peak RSS predicted from the memory
// estimate is within 25% of the peak RSS measured.
func TestMemoryEstimateMatchesRSS(t *testing.T) {
	if s := os.Getenv("CPUBACKEND_MEMCHILD"); s != "" {
		size, _ := strconv.Atoi(s)
		memChild(t, size)
		return
	}
	if testing.Short() {
		t.Skip("runs three child processes")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory makes the measured RSS 2–3× the program's")
	}
	for _, size := range []int{96, 160, 224} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryEstimateMatchesRSS$")
		cmd.Env = append(os.Environ(), fmt.Sprintf("CPUBACKEND_MEMCHILD=%d", size))
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("size %d: child: %v\n%s", size, err, out)
		}
		line := out
		if i := strings.Index(string(out), "{"); i >= 0 {
			line = out[i:]
		}
		if j := strings.Index(string(line), "}"); j >= 0 {
			line = line[:j+1]
		}
		var r map[string]int64
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("size %d: child printed %q: %v", size, out, err)
		}
		ratio := float64(r["predicted"]) / float64(r["measured"])
		t.Logf("size %d: predicted peak RSS %s, measured %s (ratio %.2f)", size, gb(r["predicted"]), gb(r["measured"]), ratio)
		if math.Abs(ratio-1) > 0.25 {
			t.Errorf("size %d: predicted %s, measured %s: off by more than 25%%", size, gb(r["predicted"]), gb(r["measured"]))
		}
	}
}

// TestMemoryRefusal: with less memory available than the estimate, compiling fails with an error giving the
// estimate, the limit, what would fit and how to skip the check; STYLELAB_MEMORY_CHECK=off skips it.
func TestMemoryRefusal(t *testing.T) {
	saved := availableMemory
	defer func() { availableMemory = saved }()
	availableMemory = func() (int64, string, bool) { return 4 << 20, "a test limit", true }
	be := must(New(""))
	e := graph.MustNewExec(be, memNet)
	x := tensors.FromShape(shapes.Make(dtypes.Float32, 2, 64, 64, 3))
	_, err := e.Exec(x)
	if err == nil {
		t.Fatal("a 64×64 batch of 2 ran in 4 MB")
	}
	for _, want := range []string{"needs an estimated", "only 4 MB is available (a test limit)", "for input [2 64 64 3] about", "or a batch of", "STYLELAB_MEMORY_CHECK=off"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	t.Setenv("STYLELAB_MEMORY_CHECK", "off")
	e2 := graph.MustNewExec(be, memNet)
	outs, err := e2.Exec(x)
	if err != nil {
		t.Fatalf("with the check off: %v", err)
	}
	outs[0].FinalizeAll()
}
