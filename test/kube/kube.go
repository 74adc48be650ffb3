// Package kube runs a real Kubernetes API server for tests: etcd and
// kube-apiserver as child processes on free loopback ports, with their data
// and logs in a temporary directory. There is no kubelet, scheduler or
// controller-manager: tests create Services, EndpointSlices, ConfigMaps and
// Leases themselves, as the controllers would, and nothing runs Pods.
//
// Binaries: kube-apiserver is the path in the environment variable
// KUBE_APISERVER, else kube-apiserver on PATH, else the one `make
// kube-apiserver` builds once into ~/.cache/shadowplane/k8s-VERSION/
// (XDG_CACHE_HOME if set); etcd is the path in ETCD, else etcd on PATH
// (Debian: apt-get install etcd-server). Without them a test is skipped,
// unless CI is "true": CI provides both, so there their absence fails the
// test. See docs/kubernetes.md.
//
// Use it from a package's TestMain:
//
//	func TestMain(m *testing.M) { kube.Main(m) }
//
//	func TestX(t *testing.T) {
//		c := kube.Start(t)     // the shared cluster of this test binary
//		ns := c.Namespace(t)   // a fresh namespace for this test's objects
//		c.Client.CoreV1().ConfigMaps(ns).Create(...)
//	}
//
// Tests sharing the cluster keep their objects in their own namespace, so
// they can run in parallel. A test that stops the API server uses StartOwn.
//
// Child processes are in their own process group and get SIGKILL when the
// test binary dies (Linux's parent-death signal), so that a panic or a
// timeout leaves no etcd or kube-apiserver behind. Main also stops them on
// SIGINT and SIGTERM, and removes the shared cluster's directory.
package kube

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Users are the plain (non-admin) users that UserKubeconfig can return: the
// API server reads its token file at start only, so every cluster registers
// them in advance. They belong to no group but system:authenticated, and
// have no rights until a test binds them to a role.
var Users = []string{"shadowplane", "viewer"}

// Timeouts for the child processes. They are generous: on a busy 2-core
// machine running other test binaries (and the race detector) the API
// server, ready in about 2 s when idle, can take many times that.
const (
	readyTimeout = 90 * time.Second
	stopTimeout  = 30 * time.Second
	// pollEvery is how often readiness is polled: the processes are
	// external, so there is no event to wait for.
	pollEvery = 50 * time.Millisecond
)

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	// Config authenticates as an administrator (group system:masters)
	// with a bearer token, and verifies the API server's certificate
	// against the CA the harness made for it.
	Config *rest.Config
	// Client is built from Config.
	Client kubernetes.Interface
	// Kubeconfig is a kubeconfig file with the same server, CA and token,
	// e.g. for `shadowplane serve --kubeconfig`.
	Kubeconfig string
	// Dir holds the cluster's files: etcd.log and apiserver.log (a test
	// that fails prints their tails), the certificates, tokens.csv and
	// etcd's data.
	Dir string

	bins       binaries
	adminToken string
	userTokens map[string]string
	caPEM      []byte
	etcdURL    string
	apiPort    int

	mu   sync.Mutex
	etcd *proc
	api  *proc

	nsSeq atomic.Int64
}

var (
	sharedMu  sync.Mutex
	shared    *Cluster
	sharedErr error

	// procs are the child processes not known to have exited, for Main
	// and the signal handler; once stopping, no process is started.
	procsMu  sync.Mutex
	procs    = map[*proc]bool{}
	stopping bool
	// tempDirs are removed when Main ends (the shared cluster's).
	tempDirs []string
)

// Main runs m's tests and stops any cluster the package started; call it
// from TestMain. It then runs after (the package's own cleanup: Main
// exits, so a deferred call in TestMain would not run) and exits with
// m.Run's code.
func Main(m *testing.M, after ...func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		stopAll()
		// Die of the signal as the binary would have without the handler.
		signal.Reset(sig)
		syscall.Kill(os.Getpid(), sig.(syscall.Signal))
	}()
	code := m.Run()
	signal.Stop(sigs)
	close(sigs)
	stopAll()
	for _, f := range after {
		f()
	}
	os.Exit(code)
}

// stopAll stops every child process, those still starting included, and
// removes the shared cluster's directory. It does not wait for a cluster
// being started (which may hold sharedMu): that start fails.
func stopAll() {
	procsMu.Lock()
	stopping = true
	ps := make([]*proc, 0, len(procs))
	for p := range procs {
		ps = append(ps, p)
	}
	dirs := tempDirs
	tempDirs = nil
	procsMu.Unlock()
	// API servers first: one whose etcd is gone is slow to shut down.
	for _, first := range []bool{true, false} {
		var wg sync.WaitGroup
		for _, p := range ps {
			if (p.name == "kube-apiserver") == first {
				wg.Go(func() { p.stop() })
			}
		}
		wg.Wait()
	}
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}

// Start returns the test binary's shared cluster, starting it on first
// use. It skips t when etcd or kube-apiserver is missing, unless CI is
// "true", where it fails t. When t fails, the tails of the cluster's logs
// are printed. The cluster is stopped by Main; without Main, it dies with
// the test binary and its directory stays behind.
func Start(t testing.TB) *Cluster {
	t.Helper()
	bins := findBinaries(t)
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if shared == nil && sharedErr == nil {
		dir, err := os.MkdirTemp("", "kube-")
		if err != nil {
			t.Fatalf("kube: %v", err)
		}
		procsMu.Lock()
		tempDirs = append(tempDirs, dir)
		procsMu.Unlock()
		began := time.Now()
		shared, sharedErr = start(bins, dir)
		if sharedErr == nil {
			t.Logf("kube: shared cluster ready in %s (%s)", time.Since(began).Round(time.Millisecond), shared.Config.Host)
		}
	}
	if sharedErr != nil {
		t.Fatalf("kube: starting the shared cluster: %v", sharedErr)
	}
	shared.printLogsOnFailure(t)
	return shared
}

// StartOwn starts a cluster used only by t and stops it at t's cleanup:
// for tests that stop the API server, which would disturb the tests sharing
// Start's cluster. It skips or fails t as Start does.
func StartOwn(t testing.TB) *Cluster {
	t.Helper()
	bins := findBinaries(t)
	dir := t.TempDir() // removed after the cleanup below has stopped the cluster
	began := time.Now()
	c, err := start(bins, dir)
	if err != nil {
		t.Fatalf("kube: %v", err)
	}
	t.Logf("kube: cluster ready in %s (%s)", time.Since(began).Round(time.Millisecond), c.Config.Host)
	t.Cleanup(c.stop)
	c.printLogsOnFailure(t) // runs before the stop: cleanups run last first
	return c
}

// Namespace creates a namespace with a fresh name derived from t's name
// and deletes it at t's cleanup. With no controller-manager, a deleted
// namespace stays Terminating with its objects; nothing can be created in
// it any more.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	name := namespaceName(t.Name(), c.nsSeq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kube: create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if !c.apiRunning() {
			return // stopped by the test and not restarted: nothing to ask
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := c.Client.CoreV1().Namespaces().Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Logf("kube: delete namespace %s: %v", name, err)
		}
	})
	return name
}

// namespaceName is a DNS label: "t-", t's name lowercased with anything
// else than letters and digits made '-', cut to fit, then "-" and seq.
func namespaceName(testName string, seq int64) string {
	suffix := "-" + strconv.FormatInt(seq, 10)
	var b strings.Builder
	b.WriteString("t-")
	dash := true
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 63-len(suffix) {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-") + suffix
}

// StopAPIServer stops the API server with SIGTERM and waits for it to
// exit; etcd keeps running. Use it on a StartOwn cluster only.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	api := c.api
	c.api = nil
	c.mu.Unlock()
	if api == nil {
		t.Fatal("kube: StopAPIServer: the API server is not running")
	}
	// A graceful stop can wait on clients' long-running watches: what the
	// tests need is the API server gone, so after a short grace it is
	// killed, as a crash would end it.
	if err := api.stopWithin(apiStopGrace); err != nil {
		t.Logf("kube: StopAPIServer: %v", err)
	}
}

// apiStopGrace is how long StopAPIServer lets the API server end on
// SIGTERM before it kills it.
const apiStopGrace = 5 * time.Second

// StartAPIServer starts the API server again, on the same port with the
// same certificate and tokens, and waits until it is ready.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.api != nil {
		t.Fatal("kube: StartAPIServer: the API server is already running")
	}
	api, err := c.startAPIServer(c.apiPort)
	if err != nil {
		t.Fatalf("kube: StartAPIServer: %v", err)
	}
	c.api = api
}

// UserKubeconfig returns a kubeconfig file and a rest.Config that
// authenticate as user, one of Users: a plain user with no rights until a
// test binds it to a role, for RBAC tests. The file is in t's temporary
// directory.
func (c *Cluster) UserKubeconfig(t testing.TB, user string) (path string, cfg *rest.Config) {
	t.Helper()
	token, ok := c.userTokens[user]
	if !ok {
		t.Fatalf("kube: UserKubeconfig: no token for user %q; the API server reads its tokens at start only, so users are registered in advance: %v", user, Users)
	}
	cfg = rest.CopyConfig(c.Config)
	cfg.BearerToken = token
	path = filepath.Join(t.TempDir(), "kubeconfig-"+user)
	if err := writeKubeconfig(path, cfg, user); err != nil {
		t.Fatalf("kube: %v", err)
	}
	return path, cfg
}

func (c *Cluster) apiRunning() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.api != nil
}

// printLogsOnFailure prints the tails of the logs at t's cleanup if t
// failed.
func (c *Cluster) printLogsOnFailure(t testing.TB) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, name := range []string{"etcd.log", "apiserver.log"} {
			t.Logf("kube: last lines of %s:\n%s", filepath.Join(c.Dir, name), tail(filepath.Join(c.Dir, name), 40))
		}
	})
}

// stop stops both processes; it is safe to call more than once.
func (c *Cluster) stop() {
	c.mu.Lock()
	api, etcd := c.api, c.etcd
	c.api, c.etcd = nil, nil
	c.mu.Unlock()
	if api != nil {
		api.stop()
	}
	if etcd != nil {
		etcd.stop()
	}
}

// binaries are the paths of the two programs.
type binaries struct{ etcd, apiserver string }

// findBinaries skips t (fails it when CI=true) if a binary is missing. A
// path given in KUBE_APISERVER or ETCD that is not there fails t: it is a
// mistake, not an absent tool. kube-apiserver is looked for in
// KUBE_APISERVER, on PATH, then where `make kube-apiserver` builds it.
func findBinaries(t testing.TB) binaries {
	t.Helper()
	find := func(env, name, cached, hint string) string {
		t.Helper()
		if p := os.Getenv(env); p != "" {
			if _, err := exec.LookPath(p); err != nil {
				t.Fatalf("kube: %s=%s: %v", env, p, err)
			}
			return p
		}
		p, err := exec.LookPath(name)
		if err == nil {
			return p
		}
		if cached != "" {
			if _, err := exec.LookPath(cached); err == nil {
				return cached
			}
		}
		where := "on PATH"
		if cached != "" {
			where += " or at " + cached
		}
		msg := fmt.Sprintf("kube: %s not found %s: set %s to its path (%s)", name, where, env, hint)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must provide it")
		}
		t.Skip(msg)
		return ""
	}
	return binaries{
		etcd:      find("ETCD", "etcd", "", "apt-get install etcd-server"),
		apiserver: find("KUBE_APISERVER", "kube-apiserver", cachedAPIServer(), "`make kube-apiserver` builds it there once; see docs/kubernetes.md"),
	}
}

// KubernetesVersion is the version of kube-apiserver that `make
// kube-apiserver` and CI build, that of the k8s.io modules in go.mod.
const KubernetesVersion = "v1.37.2"

// cachedAPIServer is where `make kube-apiserver` puts the binary:
// ${XDG_CACHE_HOME:-$HOME/.cache}/shadowplane/k8s-VERSION/kube-apiserver.
func cachedAPIServer() string {
	dir := os.Getenv("XDG_CACHE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".cache")
	}
	return filepath.Join(dir, "shadowplane", "k8s-"+KubernetesVersion, "kube-apiserver")
}

// start starts a cluster in dir.
func start(bins binaries, dir string) (*Cluster, error) {
	c := &Cluster{Dir: dir, bins: bins, userTokens: map[string]string{}}
	if err := c.writeFiles(); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.stop()
		}
	}()

	// Free ports are found by listening on port 0 and closing: another
	// process may take one before the child binds it. Then the child
	// exits before it is ready, and is started again on new ports.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var ports []int
		if ports, err = freePorts(2); err != nil {
			return nil, err
		}
		c.etcdURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
		if c.etcd, err = c.startEtcd(ports[0], ports[1]); !errors.Is(err, errExited) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	for attempt := 0; attempt < 3; attempt++ {
		var ports []int
		if ports, err = freePorts(1); err != nil {
			return nil, err
		}
		c.apiPort = ports[0]
		var api *proc
		if api, err = c.startAPIServer(c.apiPort); !errors.Is(err, errExited) {
			c.mu.Lock()
			c.api = api
			c.mu.Unlock()
			break
		}
	}
	if err != nil {
		return nil, err
	}

	c.Config = &rest.Config{
		Host:            "https://127.0.0.1:" + strconv.Itoa(c.apiPort),
		BearerToken:     c.adminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.caPEM},
		// Tests create objects in bursts; client-go's default of 5
		// requests a second would be what they wait for.
		QPS:   100,
		Burst: 200,
	}
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(c.Kubeconfig, c.Config, "admin"); err != nil {
		return nil, err
	}
	ok = true
	return c, nil
}

// writeFiles makes the tokens, the API server's certificate and the
// service account signing key.
func (c *Cluster) writeFiles() error {
	c.adminToken = randomToken()
	var tokens strings.Builder
	// token,user,uid[,"group,..."]: read by --token-auth-file.
	fmt.Fprintf(&tokens, "%s,admin,admin,system:masters\n", c.adminToken)
	for _, u := range Users {
		c.userTokens[u] = randomToken()
		fmt.Fprintf(&tokens, "%s,%s,%s\n", c.userTokens[u], u, u)
	}
	if err := os.WriteFile(filepath.Join(c.Dir, "tokens.csv"), []byte(tokens.String()), 0o600); err != nil {
		return err
	}

	// The serving certificate is its own CA: clients trust exactly it.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kube-apiserver (shadowplane test)"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	c.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(filepath.Join(c.Dir, "apiserver.crt"), c.caPEM, 0o644); err != nil {
		return err
	}
	if err := writeKey(filepath.Join(c.Dir, "apiserver.key"), filepath.Join(c.Dir, "apiserver.pub"), key); err != nil {
		return err
	}

	// Service account tokens are signed with an ES256 key (ECDSA: quick
	// to make, unlike RSA).
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	return writeKey(filepath.Join(c.Dir, "sa.key"), filepath.Join(c.Dir, "sa.pub"), saKey)
}

func writeKey(keyPath, pubPath string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	return os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (c *Cluster) startEtcd(clientPort, peerPort int) (*proc, error) {
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	// A failed attempt may have left a member with other peer URLs.
	data := filepath.Join(c.Dir, "etcd")
	if err := os.RemoveAll(data); err != nil {
		return nil, err
	}
	p, err := launch("etcd", filepath.Join(c.Dir, "etcd.log"), c.bins.etcd,
		"--data-dir", data,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		// etcd 3.4 wants these when the peer port is not its default.
		"--initial-advertise-peer-urls", peer, "--initial-cluster", "default="+peer,
		"--logger", "zap", "--log-level", "warn",
	)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: 2 * time.Second}
	err = p.waitReady(func() bool {
		resp, err := hc.Get(client + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.Contains(b.String(), `"health":"true"`)
	})
	if err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (c *Cluster) startAPIServer(port int) (*proc, error) {
	d := c.Dir
	p, err := launch("kube-apiserver", filepath.Join(d, "apiserver.log"), c.bins.apiserver,
		"--etcd-servers", c.etcdURL,
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(port),
		"--tls-cert-file", filepath.Join(d, "apiserver.crt"),
		"--tls-private-key-file", filepath.Join(d, "apiserver.key"),
		"--cert-dir", filepath.Join(d, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(d, "sa.pub"),
		"--service-account-signing-key-file", filepath.Join(d, "sa.key"),
		"--token-auth-file", filepath.Join(d, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.96.0.0/16",
		// The "kubernetes" Service's endpoints would be 127.0.0.1, which
		// EndpointSlices refuse: keep that reconciler from trying.
		"--endpoint-reconciler-type", "none",
	)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.caPEM)
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	defer hc.CloseIdleConnections()
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/readyz"
	err = p.waitReady(func() bool {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+c.adminToken)
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

// errExited is the error of a process that ended before it was ready, as
// when its port was taken.
var errExited = errors.New("exited before it was ready")

// proc is a running child process.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	once    sync.Once
	err     error
}

// launch starts bin with its output appended to logPath, in a process
// group of its own, to be killed when the test binary dies.
func launch(name, logPath, bin string, args ...string) (*proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "==== %s %s %s\n", time.Now().UTC().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	// Pdeathsig is sent when the thread that started the child ends; Go
	// ends threads only for goroutines that lock one and exit, which the
	// callers here do not do, so in practice it is when the binary dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	procsMu.Lock()
	defer procsMu.Unlock()
	if stopping {
		log.Close()
		return nil, errors.New("the test binary is stopping its clusters")
	}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	procs[p] = true
	go func() {
		p.err = cmd.Wait()
		log.Close()
		procsMu.Lock()
		delete(procs, p)
		procsMu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// waitReady polls ready until it reports true, the process exits, or
// readyTimeout passes. Polling is the only way to learn that another
// process is ready.
func (p *proc) waitReady(ready func() bool) error {
	began := time.Now()
	for {
		if ready() {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s %w (%v); last lines of %s:\n%s", p.name, errExited, p.err, p.logPath, tail(p.logPath, 30))
		default:
		}
		if time.Since(began) > readyTimeout {
			return fmt.Errorf("%s not ready after %s; last lines of %s:\n%s", p.name, readyTimeout, p.logPath, tail(p.logPath, 30))
		}
		select {
		case <-p.done:
		case <-time.After(pollEvery):
		}
	}
}

// stop sends SIGTERM to the process group and waits for the exit; after
// stopTimeout, SIGKILL. It is safe to call more than once.
func (p *proc) stop() error { return p.stopWithin(stopTimeout) }

// stopWithin sends SIGTERM, and SIGKILL if the process has not exited
// after grace.
func (p *proc) stopWithin(grace time.Duration) error {
	var err error
	p.once.Do(func() {
		pgid := p.cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
			err = fmt.Errorf("%s did not exit within %s of SIGTERM: killed", p.name, grace)
		}
	})
	return err
}

// freePorts returns n distinct ports free on 127.0.0.1 when asked.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func writeKubeconfig(path string, cfg *rest.Config, user string) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["kube"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["kube"] = &clientcmdapi.Context{Cluster: "kube", AuthInfo: user}
	kc.CurrentContext = "kube"
	return clientcmd.WriteToFile(*kc, path)
}

// tail is the last n lines of the file at path, or why there are none.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no log)"
		}
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = slices.Clone(lines[len(lines)-n:])
	}
	return strings.Join(lines, "\n")
}
