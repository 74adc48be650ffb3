package compose

import (
	"bytes"
	"context"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
	"github.com/shadowplane/shadowplane/xds/bootstrap"
)

const composeFile = "docker-compose.yaml"

// scenario is one profile of the compose file and what README.md says it
// runs.
type scenario struct {
	profile  string
	services []string
	// policies is the directory the profile's shadowplane serves.
	policies   string
	experiment string
	testing    string
	route      string
	// traffic is the traffic service's arguments (COUNTRY:PAUSE).
	traffic []string
}

var scenarios = []scenario{
	{
		profile:    "mirroring",
		services:   []string{"admin-token", "envoy", "prometheus", "scenario-mirroring", "shadowplane", "traffic-mirroring", "v1", "v2"},
		policies:   "policies/mirroring",
		experiment: "dark-v2-conformance",
		testing:    policy.Conformance,
		route:      "default",
		traffic:    []string{"-:0.1"},
	},
	{
		profile:    "canary",
		services:   []string{"admin-token", "envoy", "prometheus", "scenario-canary", "shadowplane", "traffic-canary", "v1", "v2"},
		policies:   "policies/canary",
		experiment: "wakanda-canary",
		testing:    policy.Canary,
		route:      "wakanda",
		traffic:    []string{"wakanda:0.05", "gondor:0.2"},
	},
}

// The Envoy bootstrap the compose file mounts, and the command that makes
// it (envoy-configs/README.md).
const (
	envoyConfig   = "../../envoy-configs/front-proxy.yaml"
	envoyConfigIn = "/etc/envoy/envoy.yaml"
)

var envoyBootstrap = bootstrap.Options{
	XDSAddress:   "shadowplane:18000",
	NodeID:       "front-proxy",
	NodeCluster:  "front-proxy",
	AdminAddress: "0.0.0.0:9901",
}

// load reads the compose file with the compose-spec loader, as `docker
// compose --profile PROFILE` would, with env as the only environment (so
// the defaults in the file are what is checked, not this machine's
// variables). It fails on anything the loader rejects: schema, syntax,
// interpolation, consistency (depends_on, volumes and networks named).
func load(t *testing.T, profiles []string, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{composeFile},
		cli.WithWorkingDirectory("."),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
		cli.WithInterpolation(true),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s with profiles %v: %v", composeFile, profiles, err)
	}
	return p
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("profiles %v: %v", p.Profiles, err)
	}
	return s
}

// volume returns the service's mount at target.
func volume(t *testing.T, s types.ServiceConfig, target string) types.ServiceVolumeConfig {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target {
			return v
		}
	}
	t.Fatalf("service %s mounts nothing at %s", s.Name, target)
	return types.ServiceVolumeConfig{}
}

// flagValue is the value after flag in args, as Go's flag package reads
// "--flag value".
func flagValue(args []string, flag string) (string, bool) {
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		return "", false
	}
	return args[i+1], true
}

func TestNoVersionKey(t *testing.T) {
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		t.Fatal(err)
	}
	if _, ok := top["version"]; ok {
		t.Errorf("%s has a top-level version: key; the compose spec made it obsolete and compose v2 warns about it", composeFile)
	}
}

// TestProfiles: each profile starts exactly its scenario's services, and
// no profile at all starts nothing (so a plain `docker compose up` cannot
// start a half demo).
func TestProfiles(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.profile, func(t *testing.T) {
			p := load(t, []string{sc.profile})
			got := p.ServiceNames()
			slices.Sort(got)
			if diff := cmp.Diff(sc.services, got); diff != "" {
				t.Errorf("services of profile %s (-want +got):\n%s", sc.profile, diff)
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		if got := load(t, nil).ServiceNames(); len(got) > 0 {
			t.Errorf("without a profile, compose would start %v; every service should belong to a scenario", got)
		}
	})
}

// TestImagesPinned: every service is built from the repository's
// Dockerfile or runs an image with an explicit tag other than latest.
func TestImagesPinned(t *testing.T) {
	root := repoRoot(t)
	for _, sc := range scenarios {
		p := load(t, []string{sc.profile})
		for _, s := range p.Services {
			if s.Build != nil {
				if s.Build.Context != root {
					t.Errorf("%s: build context %s, want the repository root %s", s.Name, s.Build.Context, root)
				}
				df := s.Build.Dockerfile
				if !filepath.IsAbs(df) {
					df = filepath.Join(s.Build.Context, df)
				}
				if _, err := os.Stat(df); err != nil {
					t.Errorf("%s: %v", s.Name, err)
				}
				continue
			}
			if s.Image == "" {
				t.Errorf("%s: neither build nor image", s.Name)
				continue
			}
			if strings.Contains(s.Image, "@sha256:") {
				continue
			}
			_, tag, ok := strings.Cut(s.Image[strings.LastIndex(s.Image, "/")+1:], ":")
			if !ok || tag == "" || tag == "latest" {
				t.Errorf("%s: image %q is not pinned to a release tag", s.Name, s.Image)
			}
		}
	}
}

// TestBindMountsExist: every host path a service bind-mounts is in the
// repository and exists, so compose never creates an empty directory in
// its place.
func TestBindMountsExist(t *testing.T) {
	root := repoRoot(t)
	for _, sc := range scenarios {
		p := load(t, []string{sc.profile})
		for _, s := range p.Services {
			for _, v := range s.Volumes {
				switch v.Type {
				case types.VolumeTypeBind:
					rel, err := filepath.Rel(root, v.Source)
					if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
						t.Errorf("%s: bind mount %s is outside the repository", s.Name, v.Source)
						continue
					}
					if _, err := os.Stat(v.Source); err != nil {
						t.Errorf("%s: bind mount of %s: %v", s.Name, rel, err)
					}
					if !v.ReadOnly {
						t.Errorf("%s: bind mount of %s at %s is writable; the containers have no business changing the repository", s.Name, rel, v.Target)
					}
				case types.VolumeTypeVolume:
					if _, ok := p.Volumes[v.Source]; !ok {
						t.Errorf("%s: named volume %q is not declared", s.Name, v.Source)
					}
				default:
					t.Errorf("%s: unexpected %s mount at %s", s.Name, v.Type, v.Target)
				}
			}
		}
	}
}

// TestPortsLoopbackOnly: the admin APIs (Envoy's can stop Envoy,
// shadowplane's shows everything) and the app listener are published to
// the host's loopback only, and nothing else is published.
func TestPortsLoopbackOnly(t *testing.T) {
	want := map[string][]string{
		"shadowplane": {"19000"},
		"envoy":       {"10000", "9901"},
		"prometheus":  {"9090"},
	}
	for _, sc := range scenarios {
		p := load(t, []string{sc.profile})
		for _, s := range p.Services {
			var got []string
			for _, port := range s.Ports {
				if port.HostIP != "127.0.0.1" {
					t.Errorf("%s: port %d is published on %q, want 127.0.0.1 only", s.Name, port.Target, port.HostIP)
				}
				if port.Published != "" && port.Published != strings.TrimSpace(port.Published) {
					t.Errorf("%s: odd published port %q", s.Name, port.Published)
				}
				if port.Published != "" && port.Published != itoa(port.Target) {
					t.Errorf("%s: container port %d published as %s; the README promises the same number on the host", s.Name, port.Target, port.Published)
				}
				got = append(got, port.Published)
			}
			if diff := cmp.Diff(want[s.Name], got); diff != "" {
				t.Errorf("%s: published ports (-want +got):\n%s", s.Name, diff)
			}
		}
	}
}

func itoa(n uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(b[i:])
		}
	}
}

// TestEnvoyConfigIsGenerated: Envoy runs the bootstrap that `shadowplane
// bootstrap` prints for the compose network, byte for byte, and it points
// at the shadowplane service's xDS port.
func TestEnvoyConfigIsGenerated(t *testing.T) {
	b, err := bootstrap.Build(envoyBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	want, err := bootstrap.Marshal(b, bootstrap.FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	wantSource, err := filepath.Abs(envoyConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		t.Run(sc.profile, func(t *testing.T) {
			p := load(t, []string{sc.profile})
			envoy := service(t, p, "envoy")
			if diff := cmp.Diff([]string{"-c", envoyConfigIn}, []string(envoy.Command)); diff != "" {
				t.Errorf("envoy command (-want +got):\n%s", diff)
			}
			v := volume(t, envoy, envoyConfigIn)
			if v.Type != types.VolumeTypeBind || v.Source != wantSource || !v.ReadOnly {
				t.Fatalf("envoy mounts %s %s (read-only %v) at %s, want %s read-only", v.Type, v.Source, v.ReadOnly, envoyConfigIn, wantSource)
			}
			got, err := os.ReadFile(v.Source)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from `shadowplane bootstrap --xds %s --node %s --cluster %s --admin %s` (-file +generated):\n%s",
					envoyConfig, envoyBootstrap.XDSAddress, envoyBootstrap.NodeID, envoyBootstrap.NodeCluster, envoyBootstrap.AdminAddress,
					cmp.Diff(string(got), string(want)))
			}

			// The bootstrap's control plane is the shadowplane service,
			// listening for xDS on that port on every interface.
			host, port, _ := net.SplitHostPort(envoyBootstrap.XDSAddress)
			sp := service(t, p, host)
			if addr, _ := flagValue(sp.Command, "--xds-addr"); addr != "0.0.0.0:"+port {
				t.Errorf("the bootstrap reaches xDS at %s, but %s serves it on --xds-addr %q", envoyBootstrap.XDSAddress, host, addr)
			}
			if _, ok := envoy.DependsOn[host]; !ok {
				t.Errorf("envoy does not depend on %s", host)
			}
			// The admin address the bootstrap sets is the port published.
			_, adminPort, _ := net.SplitHostPort(envoyBootstrap.AdminAddress)
			if !slices.ContainsFunc(envoy.Ports, func(pc types.ServicePortConfig) bool { return itoa(pc.Target) == adminPort }) {
				t.Errorf("envoy's admin port %s is not published", adminPort)
			}
		})
	}
}

// TestShadowplaneService: the control plane serves the directory the
// profile chose, keeps its state in a named volume and listens where
// Envoy, Prometheus and `shadowplane status` expect it.
func TestShadowplaneService(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.profile, func(t *testing.T) {
			p := load(t, []string{sc.profile})
			sp := service(t, p, "shadowplane")
			want := []string{"serve", "--policies", "/policies/active", "--xds-addr", "0.0.0.0:18000", "--insecure-xds", "--admin-addr", "0.0.0.0:19000", "--admin-allowed-hosts", "shadowplane", "--admin-token-file", "/token/admin-token", "--state-dir", "/state"}
			if diff := cmp.Diff(want, []string(sp.Command)); diff != "" {
				t.Errorf("shadowplane command (-want +got):\n%s", diff)
			}
			if v := volume(t, sp, "/state"); v.Type != types.VolumeTypeVolume || v.ReadOnly {
				t.Errorf("/state is a %s mount (read-only %v); want a writable named volume", v.Type, v.ReadOnly)
			}
			if v := volume(t, sp, "/token"); !v.ReadOnly || v.Type != types.VolumeTypeVolume {
				t.Errorf("/token: want the token volume, read-only")
			}
			if dep, ok := sp.DependsOn["admin-token"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("shadowplane must start after admin-token has made the token: depends_on %+v", sp.DependsOn)
			}
			if v := volume(t, sp, "/policies"); !v.ReadOnly {
				t.Errorf("/policies is writable in shadowplane; mount it read-only")
			}
			if v := volume(t, sp, "/scenarios"); !v.ReadOnly || v.Type != types.VolumeTypeBind {
				t.Errorf("/scenarios: want a read-only bind mount of the policy directories")
			}
			dep, ok := sp.DependsOn["scenario-"+sc.profile]
			if !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
				t.Errorf("shadowplane must start after scenario-%s has set the link: depends_on %+v", sc.profile, sp.DependsOn)
			}
		})
	}
}

// policyDir follows what the profile's shadowplane serves back to the
// repository: --policies /policies/active, a link that the
// scenario-PROFILE service makes in the shared volume to a directory under
// /scenarios, which is a bind mount of the repository's policies.
func policyDir(t *testing.T, p *types.Project, profile string) string {
	t.Helper()
	sp := service(t, p, "shadowplane")
	served, _ := flagValue(sp.Command, "--policies")
	link := volume(t, sp, "/policies")

	sel := service(t, p, "scenario-"+profile)
	if v := volume(t, sel, "/policies"); v.Type != types.VolumeTypeVolume || v.Source != link.Source {
		t.Fatalf("scenario-%s mounts %s at /policies; shadowplane reads the volume %s", profile, v.Source, link.Source)
	}
	script := strings.Join(sel.Command, " ")
	var target string
	for _, f := range strings.Fields(script) {
		if strings.HasPrefix(f, "/scenarios/") {
			target = f
		}
	}
	if target == "" || !strings.Contains(script, "ln -s "+target+" "+served) {
		t.Fatalf("scenario-%s does not link %s to a directory under /scenarios: %q", profile, served, script)
	}
	mount := volume(t, sp, "/scenarios")
	rel, err := filepath.Rel("/scenarios", target)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(mount.Source, rel)
}

// TestPolicies: the directory each profile serves passes shadowplane's own
// loader with no problem, and holds the app and the experiment README.md
// describes, wired to services of the same profile.
func TestPolicies(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	builtin := map[string]bool{}
	for _, d := range metrics.Builtin() {
		builtin[d.Name] = true
	}
	for _, sc := range scenarios {
		t.Run(sc.profile, func(t *testing.T) {
			p := load(t, []string{sc.profile})
			dir := policyDir(t, p, sc.profile)
			if want, _ := filepath.Abs(sc.policies); dir != want {
				t.Errorf("profile %s serves %s, want %s", sc.profile, dir, want)
			}
			model, statuses, err := files.LoadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, pr := range files.Problems(statuses) {
				t.Errorf("%s", pr)
			}
			if len(model.Apps) != 1 || len(model.Experiments) != 1 {
				t.Fatalf("%s: %d apps and %d experiments, want one of each", dir, len(model.Apps), len(model.Experiments))
			}

			app := model.Apps[0]
			if !slices.Contains(app.Hosts, "example.com") || app.Port != 10000 {
				t.Errorf("app %s: hosts %v port %d; the traffic sends Host: example.com to envoy:10000", app.Name, app.Hosts, app.Port)
			}
			for _, v := range app.Variants {
				host, port, err := net.SplitHostPort(v.DNS)
				if err != nil {
					t.Errorf("variant %s: want a dns host:port of a compose service, got %q (endpoints must be IPs)", v.Name, v.DNS)
					continue
				}
				s := service(t, p, host)
				if addr, _ := flagValue(s.Command, "--http-addr"); addr != "0.0.0.0:"+port {
					t.Errorf("variant %s is %s, but service %s listens on --http-addr %q", v.Name, v.DNS, host, addr)
				}
				if version, _ := flagValue(s.Command, "--version"); version != v.Name {
					t.Errorf("variant %s runs the sample app as --version %q", v.Name, version)
				}
			}

			e := model.Experiments[0]
			if e.Name != sc.experiment || e.Testing != sc.testing || e.App != app.Name || e.Route != sc.route {
				t.Errorf("experiment %s (%s on %s/%s), want %s (%s on %s/%s)",
					e.Name, e.Testing, e.App, e.Route, sc.experiment, sc.testing, app.Name, sc.route)
			}
			if !slices.Equal(e.Candidates, []string{"v2"}) {
				t.Errorf("candidates %v, want [v2]", e.Candidates)
			}
			var got []string
			for _, o := range e.Objectives {
				got = append(got, o.Metric)
				if !builtin[o.Metric] {
					t.Errorf("objective on unknown metric %s", o.Metric)
				}
			}
			if diff := cmp.Diff([]string{metrics.EnvoyMeanLatency, metrics.EnvoyP95Latency, metrics.EnvoyErrorRate}, got); diff != "" {
				t.Errorf("objective metrics (-want +got):\n%s", diff)
			}
			if e.Metrics.Provider != policy.ProviderPrometheus {
				t.Errorf("metrics provider %q, want prometheus", e.Metrics.Provider)
			}
			u, err := url.Parse(e.Metrics.Prometheus)
			if err != nil {
				t.Fatal(err)
			}
			prom := service(t, p, u.Hostname())
			if !slices.ContainsFunc(prom.Ports, func(pc types.ServicePortConfig) bool { return itoa(pc.Target) == u.Port() }) {
				t.Errorf("experiment queries %s, but service %s does not serve port %s", e.Metrics.Prometheus, prom.Name, u.Port())
			}

			for _, s := range []string{sc.experiment, "--profile " + sc.profile, sc.policies} {
				if !bytes.Contains(readme, []byte(s)) {
					t.Errorf("README.md does not mention %q", s)
				}
			}
		})
	}
}

// TestV2FaultsFromEnvironment: V2_ERROR_RATE and V2_LATENCY reach v2's
// flags, with harmless defaults.
func TestV2FaultsFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env                []string
		latency, errorRate string
	}{
		{nil, "20ms", "0"},
		{[]string{"V2_ERROR_RATE=0.2"}, "20ms", "0.2"},
		{[]string{"V2_LATENCY=80ms"}, "80ms", "0"},
	} {
		for _, sc := range scenarios {
			v2 := service(t, load(t, []string{sc.profile}, tc.env...), "v2")
			latency, _ := flagValue(v2.Command, "--latency")
			errorRate, _ := flagValue(v2.Command, "--error-rate")
			if latency != tc.latency || errorRate != tc.errorRate {
				t.Errorf("%s with %v: v2 --latency %q --error-rate %q, want %q %q", sc.profile, tc.env, latency, errorRate, tc.latency, tc.errorRate)
			}
			if v1 := service(t, load(t, []string{sc.profile}, tc.env...), "v1"); slices.Contains(v1.Command, "--error-rate") {
				t.Errorf("v1 takes faults too: %v", v1.Command)
			}
		}
	}
}

// TestTrafficServices: each profile's generator runs traffic.sh, mounted
// from this directory, with its segments.
func TestTrafficServices(t *testing.T) {
	script, err := filepath.Abs("traffic.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		p := load(t, []string{sc.profile})
		s := service(t, p, "traffic-"+sc.profile)
		if v := volume(t, s, "/traffic.sh"); v.Source != script {
			t.Errorf("%s mounts %s as /traffic.sh", s.Name, v.Source)
		}
		if diff := cmp.Diff([]string{"/bin/sh", "/traffic.sh"}, []string(s.Entrypoint)); diff != "" {
			t.Errorf("%s entrypoint (-want +got):\n%s", s.Name, diff)
		}
		if diff := cmp.Diff(sc.traffic, []string(s.Command)); diff != "" {
			t.Errorf("%s arguments (-want +got):\n%s", s.Name, diff)
		}
		if _, ok := s.DependsOn["envoy"]; !ok {
			t.Errorf("%s does not wait for envoy", s.Name)
		}
	}
}

type promConfig struct {
	Global struct {
		ScrapeInterval string `yaml:"scrape_interval"`
		ScrapeTimeout  string `yaml:"scrape_timeout"`
	} `yaml:"global"`
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// TestPrometheusConfig: prometheus.yml parses, scrapes Envoy's
// /stats/prometheus (what the envoy/* metrics read) and the apps, every
// target is a service of both profiles, and Prometheus runs this file.
func TestPrometheusConfig(t *testing.T) {
	data, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg promConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if cfg.Global.ScrapeInterval != "2s" || cfg.Global.ScrapeTimeout != "2s" {
		t.Errorf("scrape_interval %q, scrape_timeout %q: want 2s, so that a 10 s experiment window holds several samples", cfg.Global.ScrapeInterval, cfg.Global.ScrapeTimeout)
	}
	scraped := map[string]bool{} // target + path
	for _, sc := range cfg.ScrapeConfigs {
		path := sc.MetricsPath
		if path == "" {
			path = "/metrics"
		}
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				scraped[target+path] = true
			}
		}
	}
	// shadowplane by its compose name, which its command lists in
	// --admin-allowed-hosts (TestShadowplaneService).
	for _, want := range []string{"envoy:9901/stats/prometheus", "v1:8080/metrics", "v2:8080/metrics", "shadowplane:19000/metrics"} {
		if !scraped[want] {
			t.Errorf("prometheus.yml does not scrape %s", want)
		}
	}
	source, err := filepath.Abs("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range scenarios {
		p := load(t, []string{s.profile})
		for target := range scraped {
			host, _, _ := net.SplitHostPort(strings.SplitN(target, "/", 2)[0])
			if _, err := p.GetService(host); err != nil {
				t.Errorf("profile %s: prometheus scrapes %s: %v", s.profile, target, err)
			}
		}
		if v := volume(t, service(t, p, "prometheus"), "/etc/prometheus/prometheus.yml"); v.Source != source || !v.ReadOnly {
			t.Errorf("prometheus runs %s (read-only %v), want %s", v.Source, v.ReadOnly, source)
		}
	}
}
