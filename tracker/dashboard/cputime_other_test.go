//go:build !unix

package dashboard

import "time"

// processCPU is not measured on this platform: the cpu-ms/op figures read 0.
func processCPU() time.Duration { return 0 }
