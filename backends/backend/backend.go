// Package backend chooses the GoMLX backend for the whole process and says why.
//
// The rule: an XLA/PJRT plugin when one is present (GPU or CPU); otherwise stylelab's own CPU backend
// (backends/cpubackend, "cpu": BLAS or Go matmul, row gathers, parallel elementwise ops); GoMLX's pure-Go
// backend ("simplego", "go") only as the last resort. GoMLX's own backends/default package is deliberately not
// used: it defaults to XLA and, offline, fails while trying to download a CPU plugin instead of falling back.
//
// Order of decision (Choose):
//
//  1. GOMLX_BACKEND, when set:
//     "cpu" or "cpu:<opts>" forces stylelab's CPU backend (option: workers=N);
//     "go" or "go:<opts>" forces the pure-Go backend ("go" alone gets "go:ops_sequential", see below);
//     "xla:/abs/path/pjrt_c_api_<name>_plugin.so" uses exactly that plugin file;
//     "xla" or "xla:<name>" uses the first plugin found in the search folders (of that name, if given).
//     An explicit request that cannot be met makes New fail with an error that says how to fix it.
//  2. PJRT_PLUGIN_LIBRARY_PATH (a colon-separated list of folders), then ~/.local/lib/go-xla{,/nvidia},
//     /usr/local/lib/go-xla{,/nvidia}, ~/.local/lib/gomlx/pjrt, /usr/local/lib/gomlx/pjrt: the first file named
//     pjrt_c_api_<name>_plugin.so, preferring "cuda" over "cpu" over any other name.
//  3. Otherwise stylelab's CPU backend ("cpu"). New runs SelfTest on it; should that fail, New falls back to the
//     pure-Go backend with "go:ops_sequential" and says so in Info.Reason.
//
// For the "cpu" backend New fills Info.Matmul with the matrix-product engine (backends/gemm: OpenBLAS/BLIS
// with its core type and start-up verification, or the Go kernel).
//
// Plugins are never downloaded: New sets GOMLX_NO_AUTO_INSTALL=1 before the XLA package can act on it and always
// hands XLA an absolute plugin path.
package backend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/stylelab/stylelab/backends/cpubackend"
	"github.com/stylelab/stylelab/backends/gemm"
)

// Info says which backend was chosen and why.
type Info struct {
	Name       string `json:"name"`        // "xla", "cpu" or "go"
	Config     string `json:"config"`      // the full GoMLX config string, e.g. "cpu", "go:ops_sequential" or "xla:/abs/pjrt_c_api_cuda_plugin.so"
	Reason     string `json:"reason"`      // a sentence saying why this backend was chosen
	PluginPath string `json:"plugin_path"` // absolute path of the PJRT plugin (xla only)
	// Matmul is the matrix-product engine of the "cpu" backend, filled by New (nil for the other backends and
	// from Choose, which has no side effects).
	Matmul *Matmul `json:"matmul,omitempty"`
	// Err is set when an explicit request (GOMLX_BACKEND) cannot be met; New then returns it.
	Err string `json:"error,omitempty"`
}

// Matmul describes the "cpu" backend's matrix-product engine (backends/gemm.Current).
type Matmul struct {
	Engine   string   `json:"engine"`              // "openblas", "blis" or "go"
	Library  string   `json:"library,omitempty"`   // the shared library loaded, if any
	CoreType string   `json:"core_type,omitempty"` // OpenBLAS core type in use
	Threads  int      `json:"threads"`             // threads one product uses
	CPU      string   `json:"cpu"`                 // CPU model
	Features []string `json:"features"`            // CPUID features that matter (avx2, fma, avx512f, ...)
	Verified bool     `json:"verified"`            // the start-up check against a reference product passed
	Reason   string   `json:"reason"`              // why this engine
}

// String gives e.g. "openblas SkylakeX, 2 threads, verified".
func (m Matmul) String() string {
	s := m.Engine
	if m.CoreType != "" {
		s += " " + m.CoreType
	}
	s += fmt.Sprintf(", %d threads", m.Threads)
	if m.Verified {
		s += ", verified"
	} else {
		s += ", NOT verified"
	}
	return s
}

func matmulInfo() *Matmul {
	g := gemm.Current()
	return &Matmul{Engine: g.Engine, Library: g.Library, CoreType: g.CoreType, Threads: g.Threads, CPU: g.CPU,
		Features: g.Features, Verified: g.Verified, Reason: g.Reason}
}

// String gives "name (config): reason", or "name: error: ..." when the request cannot be met.
func (i Info) String() string {
	if i.Err != "" {
		return fmt.Sprintf("%s: error: %s", i.Name, i.Err)
	}
	return fmt.Sprintf("%s (%s): %s", i.Name, i.Config, i.Reason)
}

// EnvBackend is the environment variable that forces a backend (GoMLX's own name for it).
const EnvBackend = "GOMLX_BACKEND"

// EnvPluginPath is the colon-separated list of folders searched first for PJRT plugins.
const EnvPluginPath = "PJRT_PLUGIN_LIBRARY_PATH"

// CPUConfig is the configuration of stylelab's own CPU backend unless GOMLX_BACKEND gives options.
const CPUConfig = cpubackend.Name

// GoConfig is the pure-Go configuration used unless GOMLX_BACKEND gives options of its own.
//
// "ops_sequential" runs the ops of a graph one after another (each op still uses several cores inside, e.g. the
// DotGeneral kernel). Without it, simplego v0.26.0's parallel op scheduler deadlocked on our graphs: the process sat
// at 0% CPU forever inside workersPool.WaitToStart, called from dotgeneral_large.go, when the ops' own parallel
// kernels waited for workers that the op scheduler held (seen on an MMD style-loss graph, and also with
// "go:parallelism=1"). Sequential ops avoided it at a measured cost of about 7%.
const GoConfig = "go:ops_sequential"

// pluginPreference orders plugin names: lower is preferred. Unknown names come after, alphabetically.
var pluginPreference = map[string]int{"cuda": 0, "cpu": 1}

// searchDirs returns the folders searched for plugins, in order, given the environment and home folder.
func searchDirs(getenv func(string) string, home string) []string {
	var dirs []string
	if p := getenv(EnvPluginPath); p != "" {
		for _, d := range strings.Split(p, ":") {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	if home != "" {
		dirs = append(dirs, filepath.Join(home, ".local/lib/go-xla"), filepath.Join(home, ".local/lib/go-xla/nvidia"))
	}
	dirs = append(dirs, "/usr/local/lib/go-xla", "/usr/local/lib/go-xla/nvidia")
	if home != "" {
		dirs = append(dirs, filepath.Join(home, ".local/lib/gomlx/pjrt"))
	}
	dirs = append(dirs, "/usr/local/lib/gomlx/pjrt")
	return dirs
}

// pluginName returns <name> for a file called pjrt_c_api_<name>_plugin.so, or "".
func pluginName(file string) string {
	base := filepath.Base(file)
	const pre, suf = "pjrt_c_api_", "_plugin.so"
	if strings.HasPrefix(base, pre) && strings.HasSuffix(base, suf) && len(base) > len(pre)+len(suf) {
		return base[len(pre) : len(base)-len(suf)]
	}
	return ""
}

// findPlugin returns the absolute path of the preferred plugin in dirs (only of the given name when want != "").
// Folders are searched in order; within the whole search, "cuda" beats "cpu" beats other names, and for the same
// name the first folder wins.
func findPlugin(dirs []string, want string) string {
	type cand struct {
		path, name string
		order      int
	}
	var cands []cand
	for i, d := range dirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range entries {
			n := pluginName(e.Name())
			if n == "" || (want != "" && n != want) {
				continue
			}
			p := filepath.Join(d, e.Name())
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				continue
			}
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			cands = append(cands, cand{p, n, i})
		}
	}
	if len(cands) == 0 {
		return ""
	}
	rank := func(n string) int {
		if r, ok := pluginPreference[n]; ok {
			return r
		}
		return len(pluginPreference)
	}
	sort.SliceStable(cands, func(a, b int) bool {
		ra, rb := rank(cands[a].name), rank(cands[b].name)
		if ra != rb {
			return ra < rb
		}
		if cands[a].name != cands[b].name {
			return cands[a].name < cands[b].name
		}
		return cands[a].order < cands[b].order
	})
	return cands[0].path
}

// xlaConfig is the GoMLX config for one plugin file. The CPU plugin gets "shared_buffers", which GoMLX only enables
// by itself when the plugin is given by name, not by path.
func xlaConfig(path string) string {
	c := "xla:" + path
	if pluginName(path) == "cpu" {
		c += ",shared_buffers"
	}
	return c
}

// Choose decides which backend New will create, from the environment and the plugin folders. It has no side
// effects: it only reads the environment and lists folders.
func Choose() Info {
	home, _ := os.UserHomeDir()
	return choose(os.Getenv, home, xlaCompiled)
}

func choose(getenv func(string) string, home string, haveXLA bool) Info {
	dirs := searchDirs(getenv, home)
	if env := strings.TrimSpace(getenv(EnvBackend)); env != "" {
		name, opts, _ := strings.Cut(env, ":")
		switch name {
		case "cpu":
			cfg := CPUConfig
			if opts != "" {
				cfg += ":" + opts
			}
			return Info{Name: "cpu", Config: cfg, Reason: fmt.Sprintf("%s=%q forces stylelab's CPU backend", EnvBackend, env)}
		case "go", "simplego":
			cfg := "go:" + opts
			reason := fmt.Sprintf("%s=%q forces the pure-Go backend", EnvBackend, env)
			if opts == "" {
				cfg = GoConfig
				reason += " (with ops_sequential, which avoids simplego's scheduler deadlock)"
			}
			return Info{Name: "go", Config: cfg, Reason: reason}
		case "xla", "stablehlo", "hlo", "shlo":
			info := Info{Name: "xla", Config: env, Reason: fmt.Sprintf("%s=%q asks for XLA", EnvBackend, env)}
			if !haveXLA {
				info.Err = fmt.Sprintf("%s=%q asks for XLA, but this binary was built without it (CGO_ENABLED=0 or -tags noxla); rebuild with cgo, or set %s=go", EnvBackend, env, EnvBackend)
				return info
			}
			plugin, _, _ := strings.Cut(opts, ",")
			if filepath.IsAbs(plugin) {
				info.PluginPath = plugin
				info.Config = "xla:" + opts
				info.Reason = fmt.Sprintf("%s=%q names the PJRT plugin file", EnvBackend, env)
				if st, err := os.Stat(plugin); err != nil || !st.Mode().IsRegular() {
					info.Err = fmt.Sprintf("%s=%q: plugin file %s not found; fix the path or unset %s to let stylelab choose", EnvBackend, env, plugin, EnvBackend)
				}
				return info
			}
			p := findPlugin(dirs, plugin)
			if p == "" {
				what := "no PJRT plugin (pjrt_c_api_<name>_plugin.so)"
				if plugin != "" {
					what = "no pjrt_c_api_" + plugin + "_plugin.so"
				}
				info.Err = fmt.Sprintf("%s=%q asks for XLA but %s was found in %s; set %s=xla:/abs/path/to/plugin.so, add its folder to %s, or set %s=go",
					EnvBackend, env, what, strings.Join(dirs, ", "), EnvBackend, EnvPluginPath, EnvBackend)
				return info
			}
			return Info{Name: "xla", Config: xlaConfig(p), PluginPath: p,
				Reason: fmt.Sprintf("%s=%q and PJRT plugin %s found", EnvBackend, env, p)}
		default:
			return Info{Name: name, Config: env, Reason: fmt.Sprintf("%s=%q", EnvBackend, env), Err: fmt.Sprintf("%s=%q: unknown backend %q; use cpu, cpu:workers=N, go, go:<options>, xla or xla:/abs/path/to/pjrt_c_api_<name>_plugin.so", EnvBackend, env, name)}
		}
	}
	if !haveXLA {
		return Info{Name: "cpu", Config: CPUConfig,
			Reason: "this binary was built without XLA support (CGO_ENABLED=0 or -tags noxla); using stylelab's CPU backend"}
	}
	if p := findPlugin(dirs, ""); p != "" {
		return Info{Name: "xla", Config: xlaConfig(p), PluginPath: p, Reason: "PJRT plugin found at " + p}
	}
	return Info{Name: "cpu", Config: CPUConfig,
		Reason: fmt.Sprintf("no PJRT plugin (pjrt_c_api_<name>_plugin.so) found in %s; using stylelab's CPU backend", strings.Join(dirs, ", "))}
}

var (
	once       sync.Once
	theBackend backends.Backend
	theInfo    Info
	theErr     error
)

// New creates the backend Choose picks. It is created once per process and cached: later calls return the same
// backend, Info and error.
func New() (backends.Backend, Info, error) {
	once.Do(func() {
		theInfo = Choose()
		theBackend, theInfo, theErr = createChecked(theInfo, os.Getenv(EnvBackend) != "")
	})
	return theBackend, theInfo, theErr
}

// createChecked creates the backend; for "cpu" it fills Matmul and runs SelfTest, falling back to the pure-Go
// backend (unless the user forced "cpu") when the CPU backend cannot be created or computes a wrong answer.
func createChecked(info Info, forced bool) (backends.Backend, Info, error) {
	b, err := create(info)
	if info.Name != "cpu" || info.Err != "" {
		return b, info, err
	}
	info.Matmul = matmulInfo()
	if err == nil {
		if _, err = SelfTest(b); err != nil {
			b.Finalize()
		}
	}
	if err == nil || forced {
		return b, info, err
	}
	fallback := Info{Name: "go", Config: GoConfig,
		Reason: fmt.Sprintf("%s; but stylelab's CPU backend failed (%v), so using pure Go as the last resort", info.Reason, err)}
	b, err = create(fallback)
	return b, fallback, err
}

// create builds the backend described by info.
func create(info Info) (backends.Backend, error) {
	if info.Err != "" {
		return nil, errors.New(info.Err)
	}
	switch info.Name {
	case "cpu":
		_, opts, _ := strings.Cut(info.Config, ":")
		b, err := cpubackend.New(opts)
		if err != nil {
			return nil, fmt.Errorf("creating stylelab's CPU backend with %q: %w (set %s=go to use the pure-Go backend instead)", info.Config, err, EnvBackend)
		}
		return b, nil
	case "go":
		_, opts, _ := strings.Cut(info.Config, ":")
		// simplego.New prints "SimpleGo backend: parallelism set to N" with fmt.Printf; send that to stderr so
		// that commands printing JSON on stdout stay parseable.
		stdout := os.Stdout
		os.Stdout = os.Stderr
		b, err := simplego.New(opts)
		os.Stdout = stdout
		if err != nil {
			return nil, fmt.Errorf("creating the pure-Go backend with %q: %w", info.Config, err)
		}
		return b, nil
	case "xla":
		// Never download plugins: without this, GoMLX's XLA package tries GitHub whenever a plugin is given by name.
		os.Setenv("GOMLX_NO_AUTO_INSTALL", "1")
		setCUDADataDir(info.PluginPath)
		_, opts, _ := strings.Cut(info.Config, ":")
		b, err := newXLA(opts)
		if err != nil {
			return nil, fmt.Errorf("creating the XLA backend from %s: %w (set %s=go to use the pure-Go backend instead)", info.PluginPath, err, EnvBackend)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown backend %q; set %s=cpu, %s=go or %s=xla:/abs/plugin.so", info.Name, EnvBackend, EnvBackend, EnvBackend)
}

// setCUDADataDir points XLA at the NVIDIA libraries next to a CUDA plugin (<plugin dir>/../nvidia), unless
// XLA_FLAGS already names a CUDA data dir. go-xla v0.1.4 would otherwise set a path hard-coded to its author's home.
func setCUDADataDir(plugin string) {
	if pluginName(plugin) != "cuda" {
		return
	}
	nv := filepath.Join(filepath.Dir(filepath.Dir(plugin)), "nvidia")
	if st, err := os.Stat(nv); err != nil || !st.IsDir() {
		return
	}
	flags := os.Getenv("XLA_FLAGS")
	if strings.Contains(flags, "--xla_gpu_cuda_data_dir") {
		return
	}
	os.Setenv("XLA_FLAGS", strings.TrimSpace(flags+" --xla_gpu_cuda_data_dir="+nv))
}

// SelfTest runs a tiny computation on b, sum(x·x) for x = [1, 2, 3], and checks the answer is 14.
// It returns how long compiling and running took.
func SelfTest(b backends.Backend) (time.Duration, error) {
	start := time.Now()
	var got float32
	err := graphTry(func() {
		e := graph.MustNewExec(b, func(x *graph.Node) *graph.Node { return graph.ReduceAllSum(graph.Mul(x, x)) })
		defer e.Finalize()
		out := e.MustExec([]float32{1, 2, 3})[0]
		got = out.Value().(float32)
	})
	if err != nil {
		return 0, fmt.Errorf("self-test on backend %s failed: %w", b.Name(), err)
	}
	if got != 14 {
		return 0, fmt.Errorf("self-test on backend %s: sum([1,2,3]²) = %v, want 14", b.Name(), got)
	}
	return time.Since(start), nil
}

// graphTry runs fn and turns a panic (GoMLX reports graph errors by panicking) into an error.
func graphTry(fn func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	fn()
	return nil
}
