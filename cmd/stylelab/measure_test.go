package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/stylelab/stylelab/experiments/losses"
)

func TestMeasureJSON(t *testing.T) {
	// The style image scored against itself: every style loss is 0 (the exact kernels apply at 32 px).
	r := runStylelab(t, nil, "measure", "--image", testStyle, "--content", testContent, "--style", testStyle, "--size", "32", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var o struct {
		Content map[string]float64
		Style   map[string]map[string]float64
		Weights struct{ Source, SHA256 string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &o); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	if !(o.Content["relu4_2"] > 0) || o.Content["total"] != o.Content["relu4_2"] {
		t.Fatalf("content %v", o.Content)
	}
	for _, n := range losses.Names {
		if len(o.Style[n]) != 6 {
			t.Fatalf("%s: %v, want 5 layers and total", n, o.Style[n])
		}
		if v := o.Style[n]["total"]; math.Abs(v) > 1e-6 {
			t.Errorf("%s total %g, want 0 for the style against itself", n, v)
		}
	}
	if o.Weights.Source != "random(seed=0)" {
		t.Errorf("weights %+v", o.Weights)
	}
}

func TestMeasureBadInputs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"measure", "--content", testContent, "--style", testStyle}, 2, "--image required"},
		{[]string{"measure", "--image", testContent, "--content", testContent, "--style", testStyle, "--size", "3"}, 2, "between 16 and 4096"},
		{[]string{"measure", "--image", "nope.png", "--content", testContent, "--style", testStyle}, 1, `"nope.png" not found`},
	} {
		r := runStylelab(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}
