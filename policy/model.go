package policy

import "time"

// APIVersion is the only apiVersion a policy document may declare.
const APIVersion = "shadowplane.dev/v1alpha1"

// KindApp is the document kind that declares an App.
const KindApp = "App"

// Model is every app of every good policy file, sorted by name. A Model
// handed out by the loader is immutable: a change produces a new Model.
type Model struct {
	Apps []App
	// Experiments drive the weights and mirrors of some routes.
	Experiments []Experiment
	// Metrics are user-defined metrics experiments may name.
	Metrics []Metric
}

// App returns the app with the given name.
func (m *Model) App(name string) (*App, bool) {
	for i := range m.Apps {
		if m.Apps[i].Name == name {
			return &m.Apps[i], true
		}
	}
	return nil, false
}

// App is one service as clients address it: its hosts, the variants
// (versions) that can serve it, and the ordered routes that choose among them.
type App struct {
	// APIVersion, when present, must be APIVersion.
	APIVersion string `yaml:"apiVersion,omitempty" json:"apiVersion,omitempty"`
	// Kind must be "App".
	Kind string `yaml:"kind" json:"kind"`
	// Name identifies the app; a DNS label (lower case, digits, '-').
	Name string `yaml:"name" json:"name"`
	// Hosts are the Host/:authority values (and gRPC xds:/// targets) that
	// reach the app. Defaults to [Name].
	Hosts []string `yaml:"hosts,omitempty" json:"hosts,omitempty"`
	// Port is the port Envoy listens on for the app. Apps on the same port
	// share one listener; 0 means the app is served only to proxyless gRPC
	// clients.
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
	// Proxies selects which proxies receive the app. Empty selects all.
	Proxies Selector `yaml:"proxies,omitempty" json:"proxies,omitempty"`
	// ShadowHostSuffix keeps Envoy's default of appending "-shadow" to the
	// Host of mirrored requests. Off by default: the mirror goes straight to
	// the dark variant's cluster, so nothing needs to route on the suffix,
	// and a changed Host breaks apps that check it. Mirrored requests carry
	// the header MirrorHeader instead.
	ShadowHostSuffix bool `yaml:"shadowHostSuffix,omitempty" json:"shadowHostSuffix,omitempty"`
	// Variants are the versions of the app that routes can send to.
	Variants []Variant `yaml:"variants" json:"variants"`
	// Routes are matched in order; the first match wins.
	Routes []Route `yaml:"routes" json:"routes"`

	// Source says where the app was declared.
	Source Source `yaml:"-" json:"source"`
}

// MirrorHeader is set to "true" on every mirrored request, so a dark version
// can tell shadow traffic from live traffic without a Host suffix.
const MirrorHeader = "x-shadowplane-mirror"

// Variant returns the variant with the given name.
func (a *App) Variant(name string) (*Variant, bool) {
	for i := range a.Variants {
		if a.Variants[i].Name == name {
			return &a.Variants[i], true
		}
	}
	return nil, false
}

// Source is the place a declaration was read from.
type Source struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

// Selector chooses proxies by the cluster and id they present in their xDS
// node (Envoy's --service-cluster and --service-node). A proxy is selected
// when it matches any listed cluster or id; an empty Selector selects all.
type Selector struct {
	Clusters []string `yaml:"clusters,omitempty" json:"clusters,omitempty"`
	IDs      []string `yaml:"ids,omitempty" json:"ids,omitempty"`
	// Identities, when set, are the only client-certificate identities
	// (SPIFFE URI or DNS name; path.Match patterns) that may claim the
	// listed clusters and ids over mTLS xDS (identity.go).
	Identities []string `yaml:"identities,omitempty" json:"identities,omitempty"`
}

// Empty reports whether the selector selects every proxy.
func (s Selector) Empty() bool { return len(s.Clusters) == 0 && len(s.IDs) == 0 }

// Variant is one named version of an app and where it runs.
type Variant struct {
	// Name identifies the variant within its app; a DNS label.
	Name string `yaml:"name" json:"name"`
	// Endpoints are static "host:port" addresses, served over EDS. An empty
	// list means the variant is not deployed: mirrors to it are withdrawn.
	Endpoints []string `yaml:"endpoints,omitempty" json:"endpoints,omitempty"`
	// DNS is a "host:port" the proxy resolves itself. Exclusive with
	// Endpoints.
	DNS string `yaml:"dns,omitempty" json:"dns,omitempty"`
	// Service takes the variant's endpoints from a Kubernetes Service's
	// EndpointSlices (ready endpoints only). Exclusive with Endpoints and
	// DNS. The model holds only the reference: the pipeline resolves it
	// against the endpoints the Kubernetes source reports
	// (Model.WithEndpoints), so that pod churn re-sends endpoints without
	// re-translating routes.
	Service *ServiceRef `yaml:"service,omitempty" json:"service,omitempty"`
}

// Available reports whether the variant has somewhere to send traffic. A
// Service variant is available once resolved to at least one endpoint.
func (v *Variant) Available() bool { return v.DNS != "" || len(v.Endpoints) > 0 }

// Route matches requests and says where they go.
type Route struct {
	// Name identifies the route within its app; a DNS label. Defaults to
	// "route-<index>".
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Match selects requests; the zero Match matches every request.
	Match Match `yaml:"match,omitempty" json:"match,omitempty"`
	// Split sends matched requests to variants in proportion to weight.
	Split []Backend `yaml:"split" json:"split"`
	// Mirror copies a share of matched requests to a variant whose
	// responses are discarded.
	Mirror *Mirror `yaml:"mirror,omitempty" json:"mirror,omitempty"`
	// Timeout bounds the whole request; 0 keeps the proxy's default.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Retries, when set, retries failed requests.
	Retries *Retries `yaml:"retries,omitempty" json:"retries,omitempty"`
}

// Match is the conjunction of its parts; each empty part matches all.
type Match struct {
	Path    *StringMatch  `yaml:"path,omitempty" json:"path,omitempty"`
	Headers []HeaderMatch `yaml:"headers,omitempty" json:"headers,omitempty"`
	Methods []string      `yaml:"methods,omitempty" json:"methods,omitempty"`
}

// StringMatch matches a string in exactly one way.
type StringMatch struct {
	Exact  string `yaml:"exact,omitempty" json:"exact,omitempty"`
	Prefix string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	// Regex is RE2 syntax, matched against the whole value.
	Regex string `yaml:"regex,omitempty" json:"regex,omitempty"`
}

// HeaderMatch matches one request header. Exactly one of Exact, Prefix,
// Regex or Present is set.
type HeaderMatch struct {
	Name        string `yaml:"name" json:"name"`
	StringMatch `yaml:",inline" json:",inline"`
	Present     bool `yaml:"present,omitempty" json:"present,omitempty"`
}

// Backend is one variant of a split and its share.
type Backend struct {
	Variant string `yaml:"variant" json:"variant"`
	// Weight is relative to the other backends of the split. Optional for a
	// split of one backend.
	Weight *uint32 `yaml:"weight,omitempty" json:"weight,omitempty"`
}

// Mirror copies requests to a variant, fire-and-forget.
type Mirror struct {
	Variant string `yaml:"variant" json:"variant"`
	// Percent of matched requests to copy, 0 to 100 in steps of 0.0001.
	// Defaults to 100.
	Percent *float64 `yaml:"percent,omitempty" json:"percent,omitempty"`
	// SafeMethodsOnly mirrors only GET, HEAD and OPTIONS requests, so a
	// dark version never sees a write twice.
	SafeMethodsOnly bool `yaml:"safeMethodsOnly,omitempty" json:"safeMethodsOnly,omitempty"`
}

// SafeMethods are the methods mirrored when SafeMethodsOnly is set.
var SafeMethods = []string{"GET", "HEAD", "OPTIONS"}

// Retries retries a failed request on the same route.
type Retries struct {
	Attempts uint32 `yaml:"attempts" json:"attempts"`
	// On lists Envoy retry conditions ("5xx", "reset", "connect-failure",
	// "retriable-4xx", "refused-stream", "gateway-error"). Defaults to
	// ["5xx", "reset", "connect-failure"].
	On            []string      `yaml:"on,omitempty" json:"on,omitempty"`
	PerTryTimeout time.Duration `yaml:"perTryTimeout,omitempty" json:"perTryTimeout,omitempty"`
}
