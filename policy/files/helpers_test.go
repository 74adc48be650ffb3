package files

import (
	"strconv"

	"github.com/shadowplane/shadowplane/policy"
)

// appYAML is a policy document for an app with the given name, hosts and
// port.
func appYAML(name, hosts string, port int) string {
	return "kind: App\nname: " + name + "\nhosts: [" + hosts + "]\nport: " + strconv.Itoa(port) + `
variants: [{name: v1, endpoints: ["127.0.0.1:9001"]}]
routes: [{split: [{variant: v1}]}]
`
}

func appNames(m *policy.Model) []string {
	names := []string{}
	for _, a := range m.Apps {
		names = append(names, a.Name)
	}
	return names
}
