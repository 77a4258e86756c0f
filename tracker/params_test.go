package tracker

import (
	"slices"
	"testing"
)

func TestDifferingParams(t *testing.T) {
	runs := []RunInfo{
		{Params: map[string]string{"loss": "gram", "size": "64", "seed": "1"}},
		{Params: map[string]string{"loss": "meanvar", "size": "64", "seed": "1", "extra": "x"}},
		{Params: map[string]string{"loss": "gram", "size": "64", "seed": "1"}},
	}
	if got := ParamKeys(runs); !slices.Equal(got, []string{"extra", "loss", "seed", "size"}) {
		t.Fatalf("ParamKeys = %v", got)
	}
	// "extra" differs by absence, "loss" by value; "seed" and "size" are the same everywhere.
	if got := DifferingParams(runs); !slices.Equal(got, []string{"extra", "loss"}) {
		t.Fatalf("DifferingParams = %v", got)
	}
	if got := DifferingParams(runs[:1]); !slices.Equal(got, []string{"loss", "seed", "size"}) {
		t.Fatalf("a single run shows all its params, got %v", got)
	}
	if got := DifferingParams(nil); len(got) != 0 {
		t.Fatalf("no runs: %v", got)
	}
}
