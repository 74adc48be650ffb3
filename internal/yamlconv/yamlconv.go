// Package yamlconv turns JSON documents into block-style YAML that keeps
// the JSON key order, for commands that print protos in either format.
package yamlconv

import (
	"bytes"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FromJSON converts raw JSON to YAML with a 2-space indent. The output is
// deterministic for a given input.
func FromJSON(raw []byte) ([]byte, error) {
	doc, err := Node(raw)
	if err != nil {
		return nil, err
	}
	return Encode(doc)
}

// Node parses raw JSON into a YAML document node, in block style, for
// callers that add comments before encoding.
func Node(raw []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("reading JSON as YAML: %w", err)
	}
	blockStyle(&doc)
	return &doc, nil
}

// Encode writes a document node with a 2-space indent.
func Encode(doc *yaml.Node) ([]byte, error) {
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("encoding YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding YAML: %w", err)
	}
	return out.Bytes(), nil
}

// blockStyle clears the flow and quoting styles JSON input carries, so the
// encoder writes block YAML and quotes only scalars that need it, plus
// strings with a colon: a plain "::1" is valid YAML 1.2 but trips up
// readers that are less thorough than the encoder.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.Contains(n.Value, ":") {
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		blockStyle(c)
	}
}
