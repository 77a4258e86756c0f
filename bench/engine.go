package bench

import (
	"runtime"

	"github.com/stylelab/stylelab/backends/backend"
)

// matmulEngine says what computes the matrix products of the chosen backend, and the BLAS core type if any.
func matmulEngine(info backend.Info) (engine, coreType string) {
	switch {
	case info.Matmul != nil:
		m := info.Matmul
		engine = m.Engine
		if !m.Verified {
			engine += " (NOT verified)"
		}
		return engine, m.CoreType
	case info.Name == "go":
		return "gomlx simplego DotGeneral (pure Go)", ""
	case info.Name == "xla":
		return "XLA (" + info.PluginPath + ")", ""
	}
	return info.Name, ""
}

// backendInfo returns the process backend's Info as New fills it (with the matmul engine), or Choose's when
// the backend cannot be created.
func backendInfo() backend.Info {
	if _, info, err := backend.New(); err == nil {
		return info
	}
	return backend.Choose()
}

func runtimeCPUs() int { return runtime.GOMAXPROCS(0) }
