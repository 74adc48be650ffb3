package k8s

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/shadowplane/shadowplane/policy"
)

func service(ns, name string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Ports: ports},
	}
}

func servicePort(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: port, TargetPort: intstr.FromInt32(target), Protocol: corev1.ProtocolTCP}
}

// endpoint is a slice endpoint; state is "ready", "not-ready",
// "terminating" or "" (conditions unset).
func endpoint(state string, addrs ...string) discoveryv1.Endpoint {
	t, f := true, false
	e := discoveryv1.Endpoint{Addresses: addrs}
	switch state {
	case "ready":
		e.Conditions.Ready = &t
	case "not-ready":
		e.Conditions.Ready = &f
	case "terminating":
		e.Conditions = discoveryv1.EndpointConditions{Ready: &f, Serving: &t, Terminating: &t}
	}
	return e
}

func slicePortOf(name string, port int32) discoveryv1.EndpointPort {
	p := discoveryv1.EndpointPort{Port: &port}
	if name != "" {
		p.Name = &name
	}
	return p
}

func endpointSlice(ns, svc, name string, at discoveryv1.AddressType, ports []discoveryv1.EndpointPort, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: at,
		Ports:       ports,
		Endpoints:   eps,
	}
}

func TestServiceEndpoints(t *testing.T) {
	web := service("shop", "web", servicePort("http", 80, 8080), servicePort("admin", 9000, 9901))
	single := service("shop", "one", servicePort("", 80, 8080))
	two := []discoveryv1.EndpointPort{slicePortOf("http", 8080), slicePortOf("admin", 9901)}
	webSlices := []*discoveryv1.EndpointSlice{
		endpointSlice("shop", "web", "web-a", discoveryv1.AddressTypeIPv4, two,
			endpoint("ready", "192.0.2.2"), endpoint("", "192.0.2.1"),
			endpoint("not-ready", "192.0.2.3"), endpoint("terminating", "192.0.2.4")),
		// 192.0.2.2 moving between slices: listed once.
		endpointSlice("shop", "web", "web-b", discoveryv1.AddressTypeIPv4, two, endpoint("ready", "192.0.2.2", "192.0.2.5")),
		endpointSlice("shop", "web", "web-c", discoveryv1.AddressTypeIPv6, two, endpoint("ready", "2001:db8::1")),
		endpointSlice("shop", "web", "web-d", discoveryv1.AddressTypeFQDN, two, endpoint("ready", "web.example.com")),
	}
	httpWant := []string{"192.0.2.1:8080", "192.0.2.2:8080", "192.0.2.5:8080", "[2001:db8::1]:8080"}
	oneSlices := []*discoveryv1.EndpointSlice{
		endpointSlice("shop", "one", "one-a", discoveryv1.AddressTypeIPv4,
			[]discoveryv1.EndpointPort{slicePortOf("", 8080)}, endpoint("ready", "192.0.2.9")),
	}
	tests := []struct {
		name    string
		ref     policy.ServiceRef
		svc     *corev1.Service
		slices  []*discoveryv1.EndpointSlice
		want    []string
		problem string // a substring of the reason; "" when there are endpoints
	}{
		{name: "port by number", ref: policy.ServiceRef{Name: "web", Namespace: "shop", Port: "80"}, svc: web, slices: webSlices, want: httpWant},
		{name: "port by name", ref: policy.ServiceRef{Name: "web", Namespace: "shop", Port: "http"}, svc: web, slices: webSlices, want: httpWant},
		{name: "other port by name", ref: policy.ServiceRef{Name: "web", Namespace: "shop", Port: "admin"}, svc: web, slices: webSlices,
			want: []string{"192.0.2.1:9901", "192.0.2.2:9901", "192.0.2.5:9901", "[2001:db8::1]:9901"}},
		{name: "number not a Service port", ref: policy.ServiceRef{Name: "web", Namespace: "shop", Port: "8080"}, svc: web, slices: webSlices,
			problem: "port 8080 not in Service shop/web (ports: http=80, admin=9000)"},
		{name: "name not a Service port", ref: policy.ServiceRef{Name: "web", Namespace: "shop", Port: "grpc"}, svc: web, slices: webSlices,
			problem: "port grpc not in Service shop/web"},
		{name: "no port, several", ref: policy.ServiceRef{Name: "web", Namespace: "shop"}, svc: web, slices: webSlices,
			problem: "has 2 ports"},
		{name: "no port, single unnamed", ref: policy.ServiceRef{Name: "one", Namespace: "shop"}, svc: single, slices: oneSlices,
			want: []string{"192.0.2.9:8080"}},
		{name: "single unnamed by number", ref: policy.ServiceRef{Name: "one", Namespace: "shop", Port: "80"}, svc: single, slices: oneSlices,
			want: []string{"192.0.2.9:8080"}},
		{name: "Service not known yet, target port number", ref: policy.ServiceRef{Name: "one", Namespace: "shop", Port: "8080"}, slices: oneSlices,
			want: []string{"192.0.2.9:8080"}},
		{name: "Service not known yet, port name", ref: policy.ServiceRef{Name: "web", Namespace: "shop", Port: "http"}, slices: webSlices, want: httpWant},
		{name: "Service not known, no port", ref: policy.ServiceRef{Name: "one", Namespace: "shop"}, slices: oneSlices,
			problem: "Service shop/one not found"},
		{name: "nothing", ref: policy.ServiceRef{Name: "gone", Namespace: "shop", Port: "80"}, problem: "Service shop/gone not found"},
		{name: "no slices", ref: policy.ServiceRef{Name: "web", Namespace: "shop", Port: "http"}, svc: web, problem: problemNoReadyEndpoints},
		{name: "none ready", ref: policy.ServiceRef{Name: "web", Namespace: "shop", Port: "http"}, svc: web,
			slices: []*discoveryv1.EndpointSlice{endpointSlice("shop", "web", "web-a", discoveryv1.AddressTypeIPv4, two,
				endpoint("not-ready", "192.0.2.3"), endpoint("terminating", "192.0.2.4"))},
			problem: problemNoReadyEndpoints},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, problem := serviceEndpoints(tt.ref.Key(), tt.svc, tt.slices)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("endpoints (-want +got):\n%s", diff)
			}
			if tt.problem == "" && problem != "" || !strings.Contains(problem, tt.problem) {
				t.Errorf("problem = %q, want %q", problem, tt.problem)
			}
		})
	}
}
