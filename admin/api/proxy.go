package api

import "time"

// Proxy is one xDS stream: an Envoy or a gRPC client connected to the
// control plane, and how each resource type it asked for stands (sent,
// ACKed, rejected).
type Proxy struct {
	// StreamID numbers the stream, in the order streams opened.
	StreamID int64  `json:"streamId"`
	NodeID   string `json:"nodeId"`
	Cluster  string `json:"cluster"`
	// UserAgent is the client's build ("envoy/1.31.0", "gRPC Go").
	UserAgent string `json:"userAgent"`
	// Kind is "envoy" or "grpc".
	Kind string `json:"kind"`
	// Group is the configuration the proxy is served: proxies of one
	// group get the same resources.
	Group string `json:"group"`
	// Protocol is "sotw" or "delta".
	Protocol string `json:"protocol"`
	// Identity is that of a verified client certificate.
	Identity    string    `json:"identity,omitempty"`
	ConnectedAt time.Time `json:"connectedAt"`
	// Types are the exchanges per resource type, by short name
	// ("clusters", "endpoints").
	Types map[string]TypeStatus `json:"types"`
}

// TypeStatus is the exchange of one resource type with a proxy.
type TypeStatus struct {
	SentVersion  string    `json:"sentVersion,omitempty"`
	SentNonce    string    `json:"sentNonce,omitempty"`
	SentAt       time.Time `json:"sentAt,omitzero"`
	AckedVersion string    `json:"ackedVersion,omitempty"`
	AckedAt      time.Time `json:"ackedAt,omitzero"`
	// Pushes counts the responses sent.
	Pushes int `json:"pushes"`
	// LastNack is the latest rejection; it stays after later ACKs.
	LastNack *Nack `json:"lastNack,omitempty"`
	// Nacks counts rejections over the stream's life.
	Nacks int `json:"nacks"`
	// Names are the resources subscribed to by name; empty for a
	// wildcard subscription.
	Names []string `json:"names,omitempty"`
	// None is set when the proxy subscribes to no resource of the type.
	None bool `json:"none,omitempty"`
}

// Nack is one rejection by a proxy: the version and nonce it refused,
// and its error.
type Nack struct {
	Version string    `json:"version"`
	Nonce   string    `json:"nonce"`
	Error   string    `json:"error"`
	At      time.Time `json:"at"`
}

// ProxyList is the answer to GET /api/v1/proxies: a page of the
// proxies, oldest stream first. The fields are in name order, as the
// API wrote them before it had types of its own.
type ProxyList struct {
	// Next, when set, is the ?after= of the next page.
	Next    string  `json:"next,omitempty"`
	Proxies []Proxy `json:"proxies"`
	// Total counts every proxy, on every page.
	Total int `json:"total"`
}
