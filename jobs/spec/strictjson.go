package spec

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// CheckDuplicateKeys refuses a JSON document in which an object names the same key twice: encoding/json keeps
// the last silently, so `"steps": 100, …, "steps": 3` would run 3 steps from a file that reads 100. The error
// names the key by its dotted path from the document's top ("optimise.steps"; list elements by their index).
// A document that is not JSON passes: the decoder that reads it reports that. Spec and sweep files use it.
func CheckDuplicateKeys(b []byte) error {
	_, err := jsontext.NewDecoder(bytes.NewReader(b)).ReadValue()
	var se *jsontext.SyntacticError
	if errors.As(err, &se) && errors.Is(se.Err, jsontext.ErrDuplicateName) {
		var path []string
		for tok := range se.JSONPointer.Tokens() {
			path = append(path, tok)
		}
		return fmt.Errorf("key %q appears twice in the same object (JSON would keep only the last): keep one", strings.Join(path, "."))
	}
	return nil
}
