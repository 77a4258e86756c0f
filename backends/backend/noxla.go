//go:build !cgo || noxla

package backend

import (
	"errors"

	"github.com/gomlx/gomlx/backends"
)

// xlaCompiled says whether this binary contains the XLA backend (it needs cgo; -tags noxla leaves it out).
const xlaCompiled = false

func newXLA(string) (backends.Backend, error) {
	return nil, errors.New("this binary was built without XLA support (CGO_ENABLED=0 or -tags noxla); rebuild with cgo")
}
