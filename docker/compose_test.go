package docker

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// compose runs Debian's docker-compose (v1, Python) on file; `config` parses, validates against the compose
// schema and interpolates, without a Docker engine.
func compose(t *testing.T, file string, args ...string) ([]byte, error) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: needs docker-compose")
	}
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Fatal("docker-compose is not installed: make deps installs it (Debian package docker-compose)")
	}
	cmd := exec.Command(bin, append([]string{"-f", file}, args...)...)
	cmd.Dir = filepath.Dir(file)
	return cmd.CombinedOutput()
}

type service struct {
	Ports       []string          `json:"ports"`
	Volumes     []string          `json:"volumes"`
	Environment map[string]string `json:"environment"`
	Profiles    []string          `json:"profiles"`
	Command     []string          `json:"command"`
	Build       struct {
		Context    string `json:"context"`
		Dockerfile string `json:"dockerfile"`
	} `json:"build"`
	Deploy struct {
		Resources struct {
			Reservations struct {
				Devices []struct {
					Driver       string   `json:"driver"`
					Capabilities []string `json:"capabilities"`
				} `json:"devices"`
			} `json:"reservations"`
		} `json:"resources"`
	} `json:"deploy"`
}

func TestComposeFile(t *testing.T) {
	file, _ := filepath.Abs("../docker-compose.yml")
	if out, err := compose(t, file, "config", "-q"); err != nil {
		t.Fatalf("docker-compose config -q: %v\n%s", err, out)
	}
	out, err := compose(t, file, "--profile", "gpu", "config")
	if err != nil {
		t.Fatalf("docker-compose config: %v\n%s", err, out)
	}
	// The resolved file is YAML; Debian's python3-yaml (a docker-compose dependency) turns it into JSON.
	py := exec.Command("/usr/bin/python3", "-c", "import sys, yaml, json; json.dump(yaml.safe_load(sys.stdin), sys.stdout)")
	py.Stdin = strings.NewReader(string(out))
	js, err := py.Output()
	if err != nil {
		t.Fatalf("YAML to JSON: %v", err)
	}
	var cfg struct {
		Services map[string]service `json:"services"`
		Volumes  map[string]any     `json:"volumes"`
	}
	if err := json.Unmarshal(js, &cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Volumes["runs"]; !ok {
		t.Error("no named volume runs")
	}
	for _, name := range []string{"notebook", "dashboard", "notebook-gpu"} {
		s, ok := cfg.Services[name]
		if !ok {
			t.Errorf("service %s missing", name)
			continue
		}
		if len(s.Ports) == 0 {
			t.Errorf("%s publishes no port", name)
		}
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q on every host address; bind it to 127.0.0.1", name, p)
			}
		}
		if !hasPrefix(s.Volumes, "runs:/runs") || s.Environment["STYLELAB_DB"] != "/runs/stylelab.db" {
			t.Errorf("%s does not share the runs volume and database: volumes %v, env %v", name, s.Volumes, s.Environment)
		}
		if _, err := os.Stat(filepath.Join(s.Build.Context, s.Build.Dockerfile)); err != nil {
			t.Errorf("%s builds from a missing Dockerfile: %v", name, err)
		}
	}
	if c := cfg.Services["dashboard"].Command; len(c) < 2 || c[1] != "serve" {
		t.Errorf("dashboard command = %v, want stylelab serve", c)
	}
	gpu := cfg.Services["notebook-gpu"]
	if len(gpu.Profiles) != 1 || gpu.Profiles[0] != "gpu" {
		t.Errorf("notebook-gpu profiles = %v, want [gpu]", gpu.Profiles)
	}
	devs := gpu.Deploy.Resources.Reservations.Devices
	if len(devs) != 1 || devs[0].Driver != "nvidia" || len(devs[0].Capabilities) != 1 || devs[0].Capabilities[0] != "gpu" {
		t.Errorf("notebook-gpu does not reserve the NVIDIA GPU: %+v", devs)
	}
	if b := gpu.Environment["GOMLX_BACKEND"]; !strings.HasPrefix(b, "xla:/") || !strings.HasSuffix(b, "pjrt_c_api_cuda_plugin.so") {
		t.Errorf("notebook-gpu GOMLX_BACKEND = %q, want xla:<abs path to the CUDA PJRT plugin>", b)
	}
	if !strings.Contains(strings.Join(gpu.Volumes, " "), ":/opt/pjrt:ro") {
		t.Errorf("notebook-gpu does not mount the plugin folder read-only at /opt/pjrt: %v", gpu.Volumes)
	}
}

// TestComposeRejectsInvalid makes sure the validator used above does reject a broken file.
func TestComposeRejectsInvalid(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "docker-compose.yml")
	os.WriteFile(bad, []byte("services:\n  x:\n    image: a\n    portz: [\"1:1\"]\n"), 0o644)
	if out, err := compose(t, bad, "config", "-q"); err == nil {
		t.Fatalf("docker-compose accepted an unknown key:\n%s", out)
	}
}

func hasPrefix(l []string, p string) bool {
	for _, s := range l {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
