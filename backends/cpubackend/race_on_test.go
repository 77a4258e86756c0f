//go:build race

package cpubackend

// raceEnabled: the race detector's shadow memory makes RSS measurements meaningless.
const raceEnabled = true
