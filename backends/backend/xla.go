//go:build cgo && !noxla

package backend

import (
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/xla"
)

// xlaCompiled says whether this binary contains the XLA backend (it needs cgo; -tags noxla leaves it out).
const xlaCompiled = true

func newXLA(config string) (backends.Backend, error) {
	// The environment variable is read by the XLA package's init, which already ran; turn auto-install off directly
	// as well so that nothing is downloaded whatever the order of events.
	xla.EnableAutoInstall(false)
	return xla.New(config)
}
