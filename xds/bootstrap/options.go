// Package bootstrap builds the Envoy v3 bootstrap that points an Envoy at
// shadowplane over ADS: listeners, clusters and the shadowplane RTDS layer
// all arrive on one gRPC stream to the static cluster xds.XDSClusterName.
//
// Build is pure (no I/O); Marshal renders the result as deterministic YAML
// or JSON. The CLI `shadowplane bootstrap` and the golden files under
// envoy-configs/ share the flag definitions in Options.AddFlags, so the
// command recorded in a generated file is exactly the one that reproduces it.
package bootstrap

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// DefaultAdminAddress is where Envoy's admin endpoint listens unless told
// otherwise. The admin API can change runtime values, drain listeners and
// stop Envoy, so it stays on loopback by default.
const DefaultAdminAddress = "127.0.0.1:9901"

// Options describe one Envoy's bootstrap.
type Options struct {
	// XDSAddress is the control plane's host:port. An IP host gives a
	// STATIC cluster, a name a STRICT_DNS one.
	XDSAddress string
	// NodeID and NodeCluster become node.id and node.cluster, which the
	// control plane keys snapshots and stats by.
	NodeID      string
	NodeCluster string
	// AdminAddress is the admin endpoint's IP:port; empty means
	// DefaultAdminAddress.
	AdminAddress string
	// Delta selects incremental ADS (DELTA_GRPC) instead of state of the
	// world (GRPC).
	Delta bool
	// TLS, when its CA is set, makes the client speak TLS to the control
	// plane (tls.go).
	TLS TLS
}

// AddFlags defines the command-line flags that set o on fs. The CLI and the
// golden test of envoy-configs/ both use it, so they cannot drift apart.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.XDSAddress, "xds", o.XDSAddress, "control plane `HOST:PORT` (required)")
	fs.StringVar(&o.NodeID, "node", o.NodeID, "Envoy node `ID` (required)")
	fs.StringVar(&o.NodeCluster, "cluster", o.NodeCluster, "Envoy node cluster `NAME` (required)")
	fs.StringVar(&o.AdminAddress, "admin", o.withDefaults().AdminAddress, "admin endpoint `IP:PORT`; keep it on loopback unless a container port mapping needs it")
	fs.BoolVar(&o.Delta, "delta", o.Delta, "use incremental ADS (DELTA_GRPC) instead of state of the world (GRPC)")
	o.TLS.addFlags(fs)
}

// withDefaults returns o with every unset optional field filled in. It is
// the one place defaults live.
func (o Options) withDefaults() Options {
	if o.AdminAddress == "" {
		o.AdminAddress = DefaultAdminAddress
	}
	return o
}

// Validate reports every problem with o (after defaults), joined.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if _, err := parseXDSAddress(o.XDSAddress); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseAdminAddress(o.AdminAddress); err != nil {
		errs = append(errs, err)
	}
	if err := checkName("node id (--node)", o.NodeID); err != nil {
		errs = append(errs, err)
	}
	if err := checkName("node cluster (--cluster)", o.NodeCluster); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, o.TLS.validate()...)
	return errors.Join(errs...)
}

// AdminOnLoopback reports whether the admin endpoint (after defaults) is
// reachable only from the local host.
func (o Options) AdminOnLoopback() bool {
	a, err := parseAdminAddress(o.withDefaults().AdminAddress)
	return err == nil && a.ip.IsLoopback()
}

// hostPort is a parsed address. ip is valid when host is an IP literal.
type hostPort struct {
	host string
	ip   netip.Addr
	port uint32
}

func (h hostPort) String() string {
	return net.JoinHostPort(h.host, strconv.FormatUint(uint64(h.port), 10))
}

// parseXDSAddress parses the control plane address: an IP or a DNS name,
// and a port in 1..65535.
func parseXDSAddress(s string) (hostPort, error) {
	const what = "xds address (--xds)"
	h, err := splitHostPort(what, s)
	if err != nil {
		return hostPort{}, err
	}
	if h.ip.IsValid() {
		if h.ip.IsUnspecified() || h.ip.IsMulticast() {
			return hostPort{}, fmt.Errorf("%s %q: %s is not an address Envoy can connect to", what, s, h.ip)
		}
		return h, nil
	}
	if !isDNSName(h.host) {
		return hostPort{}, fmt.Errorf("%s %q: host %q is neither an IP address nor a DNS name", what, s, h.host)
	}
	return h, nil
}

// parseAdminAddress parses the admin address: Envoy binds it, so the host
// must be an IP literal.
func parseAdminAddress(s string) (hostPort, error) {
	const what = "admin address (--admin)"
	h, err := splitHostPort(what, s)
	if err != nil {
		return hostPort{}, err
	}
	if !h.ip.IsValid() {
		return hostPort{}, fmt.Errorf("%s %q: host must be an IP address to listen on (127.0.0.1, ::1, 0.0.0.0), not %q", what, s, h.host)
	}
	return h, nil
}

func splitHostPort(what, s string) (hostPort, error) {
	if s == "" {
		return hostPort{}, fmt.Errorf("%s is required (HOST:PORT)", what)
	}
	host, portStr, err := net.SplitHostPort(s)
	if err != nil {
		return hostPort{}, fmt.Errorf("%s %q: want HOST:PORT (IPv6 as [::1]:PORT): %w", what, s, err)
	}
	if host == "" {
		return hostPort{}, fmt.Errorf("%s %q: host is empty", what, s)
	}
	port, err := strconv.ParseUint(portStr, 10, 32)
	if err != nil || port < 1 || port > 65535 {
		return hostPort{}, fmt.Errorf("%s %q: port %q is not a number in 1..65535", what, s, portStr)
	}
	h := hostPort{host: host, port: uint32(port)}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return hostPort{}, fmt.Errorf("%s %q: IPv6 zones are not supported", what, s)
		}
		h.ip = ip.Unmap()
		h.host = h.ip.String()
	}
	return h, nil
}

// isDNSName reports whether s is a plausible DNS name: dot-separated labels
// of letters, digits, '-' and '_' (docker-compose service names use '_'),
// each 1..63 long, 253 in all, optionally with a trailing dot.
func isDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// checkName accepts any non-empty string without control characters: the
// value lands in a YAML header comment and in Envoy logs and stats.
func checkName(what, s string) error {
	if strings.TrimSpace(s) == "" {
		return fmt.Errorf("%s is required", what)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return fmt.Errorf("%s %q contains a control character", what, s)
	}
	return nil
}
