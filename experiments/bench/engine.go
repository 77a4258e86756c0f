package bench

import (
	"runtime"

	"github.com/stylelab/stylelab/experiments/backend"
)

// matmulEngine says what computes the matrix products of the chosen backend, and the BLAS core type if any.
func matmulEngine(info backend.Info) (engine, coreType string) {
	switch info.Name {
	case "go":
		return "gomlx simplego DotGeneral (pure Go)", ""
	case "xla":
		return "XLA (" + info.PluginPath + ")", ""
	}
	return info.Name, ""
}

func runtimeCPUs() int { return runtime.GOMAXPROCS(0) }
