package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDoctorJSON(t *testing.T) {
	r := runStylelab(t, nil, "doctor", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var d doctorReport
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if !d.SelfTest.OK || d.Backend.Name == "" || d.Backend.Reason == "" || d.CPUs < 1 || !strings.HasPrefix(d.GoVersion, "go") {
		t.Fatalf("report %+v", d)
	}
	if d.GoMLXVersion != "v0.26.0" {
		t.Errorf("GoMLX version %q, want v0.26.0 (from the build information)", d.GoMLXVersion)
	}
	if d.Backend.Name == "xla" && d.Backend.PluginPath == "" {
		t.Errorf("xla chosen without a plugin path: %+v", d.Backend)
	}
	if d.Backend.Name == "cpu" && (d.Backend.Matmul == nil || d.Backend.Matmul.Engine == "" || d.Backend.Matmul.Threads < 1) {
		t.Errorf("cpu backend chosen but the matmul engine is not reported: %+v", d.Backend)
	}
}

func TestDoctorForcedBackends(t *testing.T) {
	r := runStylelab(t, []string{"GOMLX_BACKEND=go"}, "doctor")
	if r.code != 0 || !strings.Contains(r.stdout, "go:ops_sequential") || !strings.Contains(r.stdout, "forces the pure-Go backend") ||
		!strings.Contains(r.stdout, "self-test:   ok") {
		t.Fatalf("GOMLX_BACKEND=go: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runStylelab(t, []string{"GOMLX_BACKEND=cpu"}, "doctor")
	if r.code != 0 || !strings.Contains(r.stdout, "backend:     cpu (cpu)") || !strings.Contains(r.stdout, "forces stylelab's CPU backend") ||
		!strings.Contains(r.stdout, "  matmul:    ") || !strings.Contains(r.stdout, "self-test:   ok") {
		t.Fatalf("GOMLX_BACKEND=cpu: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runStylelab(t, []string{"GOMLX_BACKEND=xla:/nonexistent/pjrt_c_api_cpu_plugin.so"}, "doctor")
	if r.code != 1 || !strings.Contains(r.stderr, "plugin file /nonexistent/pjrt_c_api_cpu_plugin.so not found") {
		t.Fatalf("missing plugin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runStylelab(t, nil, "doctor", "extra"); r.code != 2 {
		t.Fatalf("doctor extra: exit %d, want 2", r.code)
	}
}
