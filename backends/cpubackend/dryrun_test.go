package cpubackend

import (
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestDryRun: a computation compiled during a dry run is recorded with the estimate Compile made (the same as
// LastCompiled and Executable.Memory) and the check's verdict, is never refused, and computes nothing (zero
// outputs); after End the same executable computes the real values.
func TestDryRun(t *testing.T) {
	be := must(New("")).(*Backend)
	x := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions(seq(2*16*16*3, 1), 2, 16, 16, 3) }
	// On another backend, so that be's pool stays empty.
	be2 := must(New("")).(*Backend)
	real := graph.MustNewExec(be2, memNet).MustExec(x())[0].Value().([][][][]float32)
	realHeld := be2.pool.held() + be2.arenas.held()

	t.Setenv(EnvMemoryLimit, "64KB") // far below what memNet needs: outside a dry run this would be refused
	d, err := BeginDryRun()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := BeginDryRun(); err == nil {
		t.Error("a second dry run started while one was active")
	}
	e := graph.MustNewExec(be, memNet)
	out, err := e.Exec(x())
	if err != nil {
		d.End()
		t.Fatalf("a dry run refused to compile: %v", err)
	}
	for _, v := range out[0].Value().([][][][]float32)[1][15][15] {
		if v != 0 {
			d.End()
			t.Fatalf("a dry execution computed %v, want zeros", v)
		}
	}
	// The dry execution left the backend's kept storage as the real one did (so later checks count the same),
	// but for the output, which the replay gives back as the caller will and the real one handed out.
	if held := be.pool.held() + be.arenas.held(); held != realHeld+2*16*16*3*4 {
		t.Errorf("after a dry execution the backend keeps %d bytes, after a real one %d", held, realHeld)
	}
	got := d.End()
	if len(got) != 1 {
		t.Fatalf("recorded %d computations, want 1", len(got))
	}
	c := got[0]
	last := be.LastCompiled()
	if c.Memory.ProcessBytes <= c.Memory.PeakBytes+1<<20 { // the test process's RSS is well over 1 MB
		t.Errorf("predicted process peak %d: want the RSS at compile + the peak %d", c.Memory.ProcessBytes, c.Memory.PeakBytes)
	}
	c.Memory.ProcessBytes, last.ProcessBytes = 0, 0
	if c.Memory != last || c.Memory.PeakBytes <= 64<<10 {
		t.Errorf("recorded estimate %+v, LastCompiled %+v (peak must exceed the limit and the pool)", c.Memory, be.LastCompiled())
	}
	if c.Refusal == nil || c.Available > 64<<10 || !strings.Contains(c.Source, "STYLELAB_MEMORY_LIMIT=64KB") {
		t.Errorf("verdict %+v (available %d, %q): want a refusal naming STYLELAB_MEMORY_LIMIT", c.Refusal, c.Available, c.Source)
	}
	if want := []int{2, 16, 16, 3}; len(c.Image) != 4 || c.Image[0] != want[0] || c.Image[1] != want[1] {
		t.Errorf("largest image %v, want %v", c.Image, want)
	}
	// After End the dry-compiled executable runs for real.
	t.Setenv(EnvMemoryLimit, "")
	again := e.MustExec(x())[0].Value().([][][][]float32)
	if again[1][15][15][2] != real[1][15][15][2] || again[0][3][7][1] != real[0][3][7][1] {
		t.Errorf("after End: %v, want %v", again[1][15][15][2], real[1][15][15][2])
	}
}

// TestMemoryLimitEnv: STYLELAB_MEMORY_LIMIT caps the available memory (and names itself in the refusal); a
// malformed value is refused with the fix.
func TestMemoryLimitEnv(t *testing.T) {
	for in, want := range map[string]int64{"123": 123, "512MB": 512 << 20, "8GB": 8 << 30, "1.5GiB": 3 << 29, "64k": 64 << 10} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseBytes("lots"); err == nil || !strings.Contains(err.Error(), "8GB") {
		t.Errorf("parseBytes(lots): %v", err)
	}
	be := must(New(""))
	t.Setenv(EnvMemoryLimit, "2MB")
	_, err := graph.MustNewExec(be, memNet).Exec(tensors.FromShape(shapes.Make(dtypes.Float32, 2, 32, 32, 3)))
	if err == nil || !strings.Contains(err.Error(), "only 2 MB is available (STYLELAB_MEMORY_LIMIT=2MB)") {
		t.Errorf("with a 2 MB limit: %v", err)
	}
	t.Setenv(EnvMemoryLimit, "lots")
	_, err = graph.MustNewExec(be, memNet).Exec(tensors.FromShape(shapes.Make(dtypes.Float32, 1, 8, 8, 3)))
	if err == nil || !strings.Contains(err.Error(), "is not a size") {
		t.Errorf("with a malformed limit: %v", err)
	}
}
