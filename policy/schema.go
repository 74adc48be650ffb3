package policy

import (
	"bytes"
	_ "embed"
)

// schemaJSON is the JSON Schema of a policy document, an App or an
// Experiment by its kind, for editors (yaml-language-server) and for tools
// that check policy before it reaches shadowplane. Decoding is the
// authority: the schema cannot express every rule (unknown variants,
// unreachable routes, lowerLimit above upperLimit), and a test keeps its
// fields in step with the structs.
//
//go:embed schema.json
var schemaJSON []byte

// Schema returns the JSON Schema (draft 2020-12) of a policy document.
func Schema() []byte { return bytes.Clone(schemaJSON) }
