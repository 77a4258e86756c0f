package backend

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// env builds a getenv from a map.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// touch writes an (empty, fake) plugin file; Choose only looks at names, it never loads them.
func touch(t *testing.T, dir, name string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("not really a plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestChooseDefaultsToCPUWithoutPlugins(t *testing.T) {
	home := t.TempDir()
	info := choose(env(nil), home, true)
	if info.Name != "cpu" || info.Config != CPUConfig || info.PluginPath != "" || info.Err != "" {
		t.Fatalf("got %+v, want stylelab's CPU backend with %s", info, CPUConfig)
	}
	if !strings.Contains(info.Reason, "no PJRT plugin") || !strings.Contains(info.Reason, filepath.Join(home, ".local/lib/go-xla")) {
		t.Errorf("reason should say where it looked: %q", info.Reason)
	}
}

func TestChoosePicksPluginFromLibraryPath(t *testing.T) {
	dir := t.TempDir()
	cpu := touch(t, dir, "pjrt_c_api_cpu_plugin.so")
	touch(t, dir, "libsomethingelse.so")
	info := choose(env(map[string]string{EnvPluginPath: "/nonexistent:" + dir}), t.TempDir(), true)
	if info.Name != "xla" || info.PluginPath != cpu || info.Config != "xla:"+cpu+",shared_buffers" {
		t.Fatalf("got %+v, want xla with %s", info, cpu)
	}
	// Without XLA compiled in, the same folder must not be chosen.
	if info := choose(env(map[string]string{EnvPluginPath: dir}), t.TempDir(), false); info.Name != "cpu" {
		t.Fatalf("without XLA compiled in got %+v", info)
	}
}

func TestChoosePrefersCUDAAndStandardFolders(t *testing.T) {
	home := t.TempDir()
	touch(t, filepath.Join(home, ".local/lib/gomlx/pjrt"), "pjrt_c_api_cpu_plugin.so")
	cuda := touch(t, filepath.Join(home, ".local/lib/go-xla/nvidia"), "pjrt_c_api_cuda_plugin.so")
	info := choose(env(nil), home, true)
	if info.Name != "xla" || info.PluginPath != cuda || info.Config != "xla:"+cuda {
		t.Fatalf("got %+v, want the CUDA plugin %s", info, cuda)
	}
	// "xla:cpu" asks for the CPU plugin by name.
	info = choose(env(map[string]string{EnvBackend: "xla:cpu"}), home, true)
	if info.Name != "xla" || pluginName(info.PluginPath) != "cpu" || info.Err != "" {
		t.Fatalf("xla:cpu got %+v", info)
	}
}

func TestEnvForcesGo(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "pjrt_c_api_cpu_plugin.so")
	info := choose(env(map[string]string{EnvBackend: "go", EnvPluginPath: dir}), t.TempDir(), true)
	if info.Name != "go" || info.Config != GoConfig {
		t.Fatalf("GOMLX_BACKEND=go got %+v", info)
	}
	info = choose(env(map[string]string{EnvBackend: "go:parallelism=1"}), t.TempDir(), true)
	if info.Config != "go:parallelism=1" {
		t.Fatalf("options must be kept as given, got %+v", info)
	}
}

func TestEnvForcesCPU(t *testing.T) {
	dir := t.TempDir()
	touch(t, dir, "pjrt_c_api_cpu_plugin.so")
	info := choose(env(map[string]string{EnvBackend: "cpu", EnvPluginPath: dir}), t.TempDir(), true)
	if info.Name != "cpu" || info.Config != "cpu" || info.Err != "" {
		t.Fatalf("GOMLX_BACKEND=cpu got %+v", info)
	}
	info = choose(env(map[string]string{EnvBackend: "cpu:workers=1"}), t.TempDir(), true)
	if info.Config != "cpu:workers=1" {
		t.Fatalf("options must be kept as given, got %+v", info)
	}
}

// TestCPUFallsBackToGo: when the CPU backend cannot be created (here: a bad option), the default choice falls
// back to the pure-Go backend and says why; a forced GOMLX_BACKEND=cpu fails instead.
func TestCPUFallsBackToGo(t *testing.T) {
	bad := Info{Name: "cpu", Config: "cpu:bogus", Reason: "test"}
	b, info, err := createChecked(bad, false)
	if err != nil || info.Name != "go" || info.Config != GoConfig || !strings.Contains(info.Reason, "last resort") {
		t.Fatalf("fallback: got %+v, %v", info, err)
	}
	if _, err := SelfTest(b); err != nil {
		t.Fatal(err)
	}
	if _, info, err := createChecked(bad, true); err == nil || !strings.Contains(err.Error(), "bogus") || info.Name != "cpu" {
		t.Fatalf("forced: got %+v, %v; want an error naming the bad option", info, err)
	}
	// A working CPU backend reports its matmul engine.
	_, info, err = createChecked(Info{Name: "cpu", Config: CPUConfig}, false)
	if err != nil || info.Name != "cpu" || info.Matmul == nil || info.Matmul.Engine == "" || !info.Matmul.Verified {
		t.Fatalf("cpu: got %+v (matmul %+v), %v", info, info.Matmul, err)
	}
}

func TestExplicitXLARequestsThatCannotBeMet(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"xla:/nonexistent/pjrt_c_api_cuda_plugin.so", "not found"},
		{"xla", "no PJRT plugin"},
		{"tpu", "unknown backend"},
	} {
		info := choose(env(map[string]string{EnvBackend: tc.env}), t.TempDir(), true)
		if !strings.Contains(info.Err, tc.want) {
			t.Errorf("%s: got %+v, want an error containing %q", tc.env, info, tc.want)
		}
		if _, err := create(info); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: create gave %v", tc.env, err)
		}
	}
	info := choose(env(map[string]string{EnvBackend: "xla"}), t.TempDir(), false)
	if !strings.Contains(info.Err, "built without") {
		t.Errorf("no-XLA build: %+v", info)
	}
}

func TestAbsolutePluginPath(t *testing.T) {
	p := touch(t, t.TempDir(), "xla_cuda_plugin.so")
	info := choose(env(map[string]string{EnvBackend: "xla:" + p}), t.TempDir(), true)
	if info.Name != "xla" || info.PluginPath != p || info.Config != "xla:"+p || info.Err != "" {
		t.Fatalf("got %+v", info)
	}
}

func TestCUDADataDir(t *testing.T) {
	root := t.TempDir()
	p := touch(t, filepath.Join(root, "lib"), "pjrt_c_api_cuda_plugin.so")
	if err := os.Mkdir(filepath.Join(root, "nvidia"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XLA_FLAGS", "--foo")
	setCUDADataDir(p)
	if got, want := os.Getenv("XLA_FLAGS"), "--foo --xla_gpu_cuda_data_dir="+filepath.Join(root, "nvidia"); got != want {
		t.Fatalf("XLA_FLAGS=%q, want %q", got, want)
	}
}

// TestNewCreatesWorkingBackend creates the process backend (stylelab's CPU backend on a machine without plugins) and runs the
// self-test computation on it.
func TestNewCreatesWorkingBackend(t *testing.T) {
	b, info, err := New()
	if err != nil {
		t.Fatalf("New: %v (info %+v)", err, info)
	}
	if !strings.Contains(b.Name(), info.Name) { // simplego calls itself "SimpleGo (go)"
		t.Errorf("backend %q but info says %q", b.Name(), info.Name)
	}
	b2, _, _ := New()
	if b2 != b {
		t.Error("New must return the cached backend")
	}
	if _, err := SelfTest(b); err != nil {
		t.Fatal(err)
	}
}
