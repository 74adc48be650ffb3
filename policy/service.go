package policy

import (
	"maps"
	"slices"
	"strconv"
)

// ServiceRef names a port of a Kubernetes Service whose ready endpoints a
// variant sends to.
type ServiceRef struct {
	Name string `yaml:"name" json:"name"`
	// Namespace defaults to "default".
	Namespace string `yaml:"namespace,omitempty" json:"namespace,omitempty"`
	// Port is the Service port, by name or number: the endpoints' port is
	// the one EndpointSlices give for it (the target port). A Service with
	// a single port may leave it out.
	Port string `yaml:"port,omitempty" json:"port,omitempty"`
}

// Key is the ServiceRef as an EndpointTable key: defaults applied.
func (s ServiceRef) Key() ServiceRef {
	if s.Namespace == "" {
		s.Namespace = DefaultNamespace
	}
	return s
}

// DefaultNamespace is the namespace of a ServiceRef that names none.
const DefaultNamespace = "default"

func (s ServiceRef) String() string {
	k := s.Key()
	out := k.Namespace + "/" + k.Name
	if k.Port != "" {
		out += ":" + k.Port
	}
	return out
}

// PortNumber is the port as a number, when it is given as one.
func (s ServiceRef) PortNumber() (int32, bool) {
	n, err := strconv.ParseInt(s.Port, 10, 32)
	return int32(n), err == nil
}

// EndpointTable is what a source of endpoints (the Kubernetes source)
// knows: for each referenced Service port, its ready endpoints as sorted
// "ip:port" strings. A Service missing from the table has none. Tables
// are immutable once handed over.
type EndpointTable map[ServiceRef][]string

// Services lists the Services the model's variants refer to, each once,
// in a stable order: what the Kubernetes source must watch.
func (m *Model) Services() []ServiceRef {
	set := map[ServiceRef]bool{}
	for i := range m.Apps {
		for _, v := range m.Apps[i].Variants {
			if v.Service != nil {
				set[v.Service.Key()] = true
			}
		}
	}
	return slices.SortedFunc(maps.Keys(set), func(a, b ServiceRef) int {
		return compareStrings(a.String(), b.String())
	})
}

// WithEndpoints is m with each Service variant's Endpoints taken from t.
// Apps without a Service variant are shared with m, not copied; m is not
// modified. Static and DNS variants are left as they are.
func (m *Model) WithEndpoints(t EndpointTable) *Model {
	out := *m
	copied := false
	for i := range m.Apps {
		if !hasService(&m.Apps[i]) {
			continue
		}
		if !copied {
			out.Apps = slices.Clone(m.Apps)
			copied = true
		}
		app := &out.Apps[i]
		app.Variants = slices.Clone(app.Variants)
		for j := range app.Variants {
			v := &app.Variants[j]
			if v.Service != nil {
				v.Endpoints = t[v.Service.Key()]
			}
		}
	}
	return &out
}

// Availability is which Service variants of m have endpoints in t, keyed
// "app/variant": the one way endpoints change routing (a withdrawn or
// restored mirror, a cluster left out or added). Two tables with the same
// Availability give the same routes, listeners, clusters and runtime; only
// the endpoints differ.
func (m *Model) Availability(t EndpointTable) map[string]bool {
	out := map[string]bool{}
	for i := range m.Apps {
		for _, v := range m.Apps[i].Variants {
			if v.Service != nil {
				out[m.Apps[i].Name+"/"+v.Name] = len(t[v.Service.Key()]) > 0
			}
		}
	}
	return out
}

func hasService(a *App) bool {
	for _, v := range a.Variants {
		if v.Service != nil {
			return true
		}
	}
	return false
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// validateService checks a Service reference at path.
func validateService(fe *fieldErrors, path string, s *ServiceRef) {
	checkName(fe, join(path, "name"), "Service name", s.Name)
	if s.Namespace != "" {
		checkName(fe, join(path, "namespace"), "namespace", s.Namespace)
	}
	if s.Port == "" {
		return
	}
	if n, ok := s.PortNumber(); ok {
		if n < 1 || n > 65535 {
			fe.add(join(path, "port"), "%d is not a port: use 1 to 65535 or the port's name", n)
		}
		return
	}
	if !dnsLabel.MatchString(s.Port) {
		fe.add(join(path, "port"), "%q is not a port name: use the Service port's name (a DNS label) or its number", s.Port)
	}
}
