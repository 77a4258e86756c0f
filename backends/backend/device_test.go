package backend

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestDeviceDescribesEachBackend(t *testing.T) {
	m := &Matmul{Engine: "openblas", Library: "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so",
		CoreType: "SkylakeX", Threads: 2, CPU: "AMD EPYC", Verified: true}
	cpus := fmt.Sprintf("%d CPUs", runtime.NumCPU())
	for _, c := range []struct {
		info Info
		want string
	}{
		{Info{Name: "cpu", Config: "cpu", Matmul: m}, "cpu backend, matmul openblas SkylakeX, 2 threads, verified (libopenblasp-r0.3.21.so), AMD EPYC, " + cpus},
		{Info{Name: "cpu", Config: "cpu:workers=1", Matmul: &Matmul{Engine: "go", Threads: 1, CPU: "x"}}, "cpu backend (cpu:workers=1), matmul go, 1 threads, NOT verified, x, " + cpus},
		{Info{Name: "cpu", Config: "cpu"}, "cpu backend (cpu), matmul engine not known yet (the backend was not created), " + cpus},
		{Info{Name: "go", Config: GoConfig}, "go backend (go:ops_sequential), matmul gomlx simplego DotGeneral (pure Go), " + cpus},
		{Info{Name: "xla", Config: "xla:/p/pjrt_c_api_cuda_plugin.so", PluginPath: "/p/pjrt_c_api_cuda_plugin.so"}, "xla backend, PJRT plugin /p/pjrt_c_api_cuda_plugin.so"},
		{Info{Name: "xla", Err: "plugin file /p not found"}, "xla backend: not available (plugin file /p not found)"},
	} {
		if got := c.info.Device(); got != c.want {
			t.Errorf("%+v.Device() = %q, want %q", c.info, got, c.want)
		}
	}
}

// TestCurrentIsNewsInfo: Current describes the backend New created, with its matrix-product engine.
func TestCurrentIsNewsInfo(t *testing.T) {
	_, info, err := New()
	if err != nil {
		t.Fatal(err)
	}
	cur := Current()
	if cur.Device() != info.Device() || cur.Name != info.Name || cur.Config != info.Config {
		t.Fatalf("Current() = %+v, New's Info = %+v", cur, info)
	}
	if cur.Name == "cpu" && (cur.Matmul == nil || !strings.Contains(cur.Device(), cur.Matmul.String())) {
		t.Fatalf("cpu backend without its matmul engine in %q", cur.Device())
	}
}
