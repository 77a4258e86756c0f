package backend

import (
	"fmt"
	"path/filepath"
	"runtime"
)

// Device is the one-line description of where this Info's computation runs and what computes its matrix
// products. `stylelab doctor` prints it (device:) and every recorded run stores it as its provenance device, so
// both say the same thing:
//
//	cpu:  "cpu backend, matmul openblas SkylakeX, 2 threads, verified (libopenblasp-r0.3.21.so), AMD EPYC, 2 CPUs"
//	go:   "go backend (go:ops_sequential), matmul gomlx simplego DotGeneral (pure Go), 2 CPUs"
//	xla:  "xla backend, PJRT plugin /abs/pjrt_c_api_cuda_plugin.so"
//
// For "cpu" the matrix-product engine is known only once New has created the backend (Info.Matmul); an Info
// from Choose says so instead of guessing. An Info whose request cannot be met (Err) says that.
func (i Info) Device() string {
	if i.Err != "" {
		return fmt.Sprintf("%s backend: not available (%s)", i.Name, i.Err)
	}
	cpus := runtime.NumCPU()
	switch i.Name {
	case "cpu":
		m := i.Matmul
		if m == nil {
			return fmt.Sprintf("cpu backend (%s), matmul engine not known yet (the backend was not created), %d CPUs", i.Config, cpus)
		}
		s := "cpu backend"
		if i.Config != CPUConfig {
			s += " (" + i.Config + ")"
		}
		s += ", matmul " + m.String()
		if m.Library != "" {
			s += " (" + filepath.Base(m.Library) + ")"
		}
		if m.CPU != "" {
			s += ", " + m.CPU
		}
		return s + fmt.Sprintf(", %d CPUs", cpus)
	case "go":
		return fmt.Sprintf("go backend (%s), matmul gomlx simplego DotGeneral (pure Go), %d CPUs", i.Config, cpus)
	case "xla":
		return "xla backend, PJRT plugin " + i.PluginPath
	}
	return fmt.Sprintf("%s backend (%s)", i.Name, i.Config)
}

// Current is the Info of the process's backend as New creates it (with the matrix-product engine, and the
// pure-Go fallback if the CPU backend failed its self-test), creating it if no one has yet. New's error is not
// returned: the Info says what failed (Device reports it), and the computation that needs the backend meets
// the same error from New.
func Current() Info {
	_, info, err := New()
	if err != nil && info.Err == "" {
		info.Err = err.Error()
	}
	return info
}
