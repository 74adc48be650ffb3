package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/shadowplane/shadowplane/xds"
)

// Dump is what a group is served, as JSON, for `shadowplane render` and
// the admin config dump. Resources use Envoy's proto field names, so the
// output reads like Envoy's documentation and its own config_dump.
type Dump struct {
	Group     string            `json:"group"`
	Version   string            `json:"version"`
	Versions  map[string]string `json:"versions"`
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
	Runtimes  []json.RawMessage `json:"runtimes,omitempty"`
}

// NewDump renders a snapshot of a group.
func NewDump(group xds.GroupKey, snap *Snapshot) (*Dump, error) {
	d := &Dump{Group: group.String(), Version: snap.Version, Versions: map[string]string{}}
	for _, url := range PushOrder {
		d.Versions[url] = snap.Type(url).Version
	}
	r := snap.Resources
	var err error
	add := func(dst *[]json.RawMessage, m proto.Message) {
		if err != nil {
			return
		}
		var b []byte
		b, err = protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			err = fmt.Errorf("dump %s: %w", proto.MessageName(m), err)
			return
		}
		// protojson's whitespace varies between runs by design; compact
		// it so a dump is byte-for-byte reproducible.
		var buf bytes.Buffer
		if err = json.Compact(&buf, b); err == nil {
			*dst = append(*dst, buf.Bytes())
		}
	}
	d.Listeners, d.Routes, d.Clusters, d.Endpoints = []json.RawMessage{}, []json.RawMessage{}, []json.RawMessage{}, []json.RawMessage{}
	for _, m := range r.Listeners {
		add(&d.Listeners, m)
	}
	for _, m := range r.Routes {
		add(&d.Routes, m)
	}
	for _, m := range r.Clusters {
		add(&d.Clusters, m)
	}
	for _, m := range r.Endpoints {
		add(&d.Endpoints, m)
	}
	for _, m := range r.Runtimes {
		add(&d.Runtimes, m)
	}
	return d, err
}
