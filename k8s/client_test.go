package k8s

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/shadowplane/shadowplane/policy/files"
	"github.com/shadowplane/shadowplane/test/kube"
)

// A kubeconfig gives a working client that names itself; no kubeconfig
// outside a cluster is a clear error.
func TestRESTConfig(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	cfg, err := RESTConfig(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.UserAgent != "shadowplane/"+Version || cfg.QPS != DefaultQPS || cfg.Burst != DefaultBurst {
		t.Errorf("user agent %q, QPS %v, burst %d; want shadowplane/%s, %v, %d", cfg.UserAgent, cfg.QPS, cfg.Burst, Version, DefaultQPS, DefaultBurst)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CoreV1().Namespaces().Get(apiContext(t), "default", metav1.GetOptions{}); err != nil {
		t.Errorf("client from the kubeconfig: %v", err)
	}

	if _, err := RESTConfig(t.TempDir() + "/missing"); err == nil {
		t.Error("a missing kubeconfig is not an error")
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		if _, err := RESTConfig(""); err == nil || !strings.Contains(err.Error(), "in-cluster") {
			t.Errorf("in-cluster configuration outside a cluster: err = %v", err)
		}
	}
}

// records is a slog.Handler that sends each record's message (and error)
// to a channel, dropping what does not fit: tests wait for one line.
type records chan string

func (r records) Enabled(context.Context, slog.Level) bool { return true }
func (r records) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		line += " " + a.String()
		return true
	})
	select {
	case r <- line:
	default:
	}
	return nil
}
func (r records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r records) WithGroup(string) slog.Handler      { return r }

// A Role that forbids listing ConfigMaps is said plainly in our log, not
// only in klog's.
func TestForbiddenListIsLogged(t *testing.T) {
	t.Parallel()
	c := kube.Start(t)
	ns := c.Namespace(t)
	_, cfg := c.UserKubeconfig(t, "viewer") // no rights in ns
	lines := make(records, 100)
	p, err := NewPolicies(kubernetes.NewForConfigOrDie(cfg), PoliciesOptions{Namespace: ns, Sink: nopSink{}, Logger: slog.New(lines)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	deadline := time.After(waitFor)
	for {
		select {
		case line := <-lines:
			if strings.Contains(line, "cannot list or watch ConfigMaps: grant") && strings.Contains(line, "forbidden") {
				if p.HasSynced() {
					t.Error("synced without being allowed to list")
				}
				return
			}
		case <-deadline:
			t.Fatalf("no log line about the forbidden list after %s", waitFor)
		}
	}
}

type nopSink struct{}

func (nopSink) SetDocuments(string, map[string][]byte) []files.FileStatus { return nil }
