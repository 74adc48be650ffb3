package k8s

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/shadowplane/shadowplane/policy"
)

// Why a Service reference has no endpoints, as Problems reports it.
const (
	problemNoReadyEndpoints = "no ready endpoints"
)

// slicePort says which port of an EndpointSlice a reference means.
// EndpointSlices carry the Service port's name (not its number) beside the
// target port's number, so a Service port is found by name once the
// Service is known; before that, a number can only be matched against the
// target port.
type slicePort struct {
	name     string
	byNumber bool
	number   int32
}

func (p slicePort) in(ports []discoveryv1.EndpointPort) (int32, bool) {
	for _, sp := range ports {
		if sp.Port == nil {
			continue // "all ports": not something a cluster can send to
		}
		if p.byNumber {
			if *sp.Port == p.number {
				return *sp.Port, true
			}
			continue
		}
		if ptrString(sp.Name) == p.name {
			return *sp.Port, true
		}
	}
	return 0, false
}

// resolvePort finds the slice port that ref (Key()'d) names, given its
// Service (nil when not known). The string says why there is none.
func resolvePort(ref policy.ServiceRef, svc *corev1.Service) (slicePort, string) {
	if n, ok := ref.PortNumber(); ok {
		if svc == nil {
			return slicePort{byNumber: true, number: n}, ""
		}
		for _, p := range svc.Spec.Ports {
			if p.Port == n {
				return slicePort{name: p.Name}, ""
			}
		}
		return slicePort{}, fmt.Sprintf("port %d not in Service %s/%s (ports: %s)", n, ref.Namespace, ref.Name, servicePorts(svc))
	}
	if ref.Port != "" {
		if svc == nil {
			return slicePort{name: ref.Port}, ""
		}
		for _, p := range svc.Spec.Ports {
			if p.Name == ref.Port {
				return slicePort{name: p.Name}, ""
			}
		}
		return slicePort{}, fmt.Sprintf("port %s not in Service %s/%s (ports: %s)", ref.Port, ref.Namespace, ref.Name, servicePorts(svc))
	}
	if svc == nil {
		// Without the Service, the slices alone cannot say which of
		// several ports is meant; wait for it.
		return slicePort{}, fmt.Sprintf("Service %s/%s not found", ref.Namespace, ref.Name)
	}
	if len(svc.Spec.Ports) != 1 {
		return slicePort{}, fmt.Sprintf("Service %s/%s has %d ports (%s): name one in service.port", ref.Namespace, ref.Name, len(svc.Spec.Ports), servicePorts(svc))
	}
	return slicePort{name: svc.Spec.Ports[0].Name}, ""
}

// serviceEndpoints is the ready endpoints of ref (Key()'d) as sorted,
// distinct "ip:port" strings, from its Service (nil when not known) and
// EndpointSlices; when there are none, the string says why.
//
// An endpoint counts when its ready condition is unset or true and it is
// not terminating: a terminating or not-ready endpoint is left out, so
// that Envoy stops sending it new requests and drains it. An endpoint can
// be in two slices while the slices are being rebalanced; it is listed
// once. FQDN slices are skipped: variants send to addresses.
func serviceEndpoints(ref policy.ServiceRef, svc *corev1.Service, eps []*discoveryv1.EndpointSlice) ([]string, string) {
	port, problem := resolvePort(ref, svc)
	if problem != "" {
		return nil, problem
	}
	var out []string
	for _, s := range eps {
		if s.AddressType != discoveryv1.AddressTypeIPv4 && s.AddressType != discoveryv1.AddressTypeIPv6 {
			continue
		}
		n, ok := port.in(s.Ports)
		if !ok {
			continue
		}
		ps := strconv.Itoa(int(n))
		for _, e := range s.Endpoints {
			if !ready(e.Conditions) {
				continue
			}
			for _, a := range e.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue // the API server validates; never serve garbage
				}
				out = append(out, net.JoinHostPort(ip.String(), ps))
			}
		}
	}
	if len(out) == 0 {
		if svc == nil {
			return nil, fmt.Sprintf("Service %s/%s not found", ref.Namespace, ref.Name)
		}
		return nil, problemNoReadyEndpoints
	}
	slices.Sort(out)
	return slices.Compact(out), ""
}

func ready(c discoveryv1.EndpointConditions) bool {
	if c.Terminating != nil && *c.Terminating {
		return false
	}
	return c.Ready == nil || *c.Ready
}

func servicePorts(svc *corev1.Service) string {
	out := ""
	for i, p := range svc.Spec.Ports {
		if i > 0 {
			out += ", "
		}
		if p.Name != "" {
			out += p.Name + "="
		}
		out += strconv.Itoa(int(p.Port))
	}
	if out == "" {
		return "none"
	}
	return out
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
