//go:build !race

package cpubackend

const raceEnabled = false
