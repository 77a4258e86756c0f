package train

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestCheckpointActivationsConfig: the field is omitted from the JSON when false (older specs and their keys
// are unchanged), kept when true, and refused for kind adain (it applies to the transformer).
func TestCheckpointActivationsConfig(t *testing.T) {
	for _, kind := range []string{"single", "cin", "adain"} {
		c, err := Preset("tiny", kind)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(c)
		if strings.Contains(string(b), "checkpoint_activations") {
			t.Errorf("%s: false is written: %s", kind, b)
		}
		c.CheckpointActivations = true
		b, _ = json.Marshal(c)
		if !strings.Contains(string(b), `"checkpoint_activations":true`) {
			t.Errorf("%s: true is not written: %s", kind, b)
		}
		n := 2
		if kind == "single" {
			n = 1
		}
		_, err = c.Resolve(n)
		if kind == "adain" {
			if err == nil || !strings.Contains(err.Error(), "checkpoint_activations applies to the transformer") {
				t.Errorf("adain with checkpoint_activations: %v", err)
			}
		} else if err != nil {
			t.Errorf("%s with checkpoint_activations: %v", kind, err)
		}
	}
}
