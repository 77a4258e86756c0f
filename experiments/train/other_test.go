//go:build !unix

package train

import "errors"

func mkfifo(string) error { return errors.New("no mkfifo on this platform") }
