package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc/status"

	"github.com/shadowplane/shadowplane/admin"
	"github.com/shadowplane/shadowplane/analysis"
	"github.com/shadowplane/shadowplane/analysis/metrics"
	"github.com/shadowplane/shadowplane/internal/pipeline"
	"github.com/shadowplane/shadowplane/internal/redact"
	"github.com/shadowplane/shadowplane/k8s"
	"github.com/shadowplane/shadowplane/policy"
	"github.com/shadowplane/shadowplane/policy/files"
	"github.com/shadowplane/shadowplane/xds"
	"github.com/shadowplane/shadowplane/xds/server"
)

type serveConfig struct {
	policies  string
	stateDir  string
	xdsAddr   string
	adminAddr string
	adminHost string
	logLevel  string
	logJSON   bool
	kube      kubeConfig

	// adminTokenFile holds the bearer token of the admin API's
	// state-changing endpoints.
	adminTokenFile string
	// policySettle is files.WatcherOptions.Settle.
	policySettle time.Duration
	// adminTLS serves the admin API over HTTPS (serve_admin.go).
	adminTLS adminTLSConfig
	// xdsConns caps xDS connections (serve_limits.go).
	xdsConns xdsConnConfig
	// xdsTLS serves xDS over (m)TLS (serve_tls.go).
	xdsTLS xdsTLSConfig
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var cfg serveConfig
	fs.StringVar(&cfg.policies, "policies", "", "policy `DIR` to watch (required)")
	fs.DurationVar(&cfg.policySettle, "policy-settle", files.DefaultSettle, "how long a policy file written in place must stay unchanged before it is taken (`DURATION`); renamed files are taken at once. Raise it for writers that pause longer mid-file")
	fs.StringVar(&cfg.stateDir, "state-dir", ".shadowplane-state", "`DIR` where experiment progress and each policy file's last good version are kept across restarts")
	fs.StringVar(&cfg.xdsAddr, "xds-addr", "127.0.0.1:18000", "xDS (ADS over gRPC) listen `ADDR`")
	fs.StringVar(&cfg.adminAddr, "admin-addr", admin.DefaultAddress, "admin HTTP listen `ADDR`; keep it on loopback unless you mean otherwise")
	fs.StringVar(&cfg.adminHost, "admin-allowed-hosts", "", "comma-separated host `NAMES` the admin API answers to besides IP addresses and localhost (a Service or DNS name); others get 403, which defeats DNS rebinding")
	fs.StringVar(&cfg.adminTokenFile, "admin-token-file", "", "`FILE` (mode 0600) holding the bearer token that pausing, aborting, promoting... experiments through the admin API needs, re-read when it changes; required when --admin-addr is not loopback")
	cfg.adminTLS.flags(fs)
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log `LEVEL`: trace, debug, info, warn, error")
	fs.BoolVar(&cfg.logJSON, "log-json", false, "log as JSON lines")
	cfg.kube.flags(fs)
	cfg.xdsConns.flags(fs)
	cfg.xdsTLS.flags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if cfg.policies == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: shadowplane serve --policies DIR [--xds-addr ADDR] [--admin-addr ADDR] [--k8s | --kubeconfig FILE [--leader-elect]]")
		return errUsage
	}
	if err := cfg.adminTLS.check(); err != nil {
		fmt.Fprintln(stderr, "shadowplane serve:", err)
		return errUsage
	}
	if err := cfg.kube.check(); err != nil {
		fmt.Fprintln(stderr, "shadowplane serve:", err)
		return errUsage
	}
	// Every log line goes through redact: a URL a policy gave may carry
	// a password or token, and errors quote URLs back.
	return serve(ctx, cfg, newLogger(redact.Writer(stderr), cfg.logLevel, cfg.logJSON))
}

// serve runs the control plane until ctx is done: the policy watcher feeds
// models to the pipeline, which serves them through the cache; the ADS
// server serves the cache, the admin API shows it all. With Kubernetes,
// ConfigMaps join the watcher's documents, EndpointSlices resolve the
// pipeline's Services, and under --leader-elect the elected replica runs
// the experiments while the others serve the states it saves.
func serve(ctx context.Context, cfg serveConfig, log hclog.Logger) error {
	// Any return, an error included, stops everything started under ctx.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The token first: a bad file stops serve before anything starts.
	var adminToken admin.TokenSource
	if cfg.adminTokenFile != "" {
		// Re-read when it changes: rotating the token needs no restart.
		tf, err := admin.OpenTokenFile(cfg.adminTokenFile, admin.TokenFileOptions{OnReload: func(err error) {
			if err != nil {
				log.Error("admin token file changed but not taken; the previous token stays in force", "file", cfg.adminTokenFile, "error", err)
				return
			}
			log.Info("admin token file changed: the new token is in force", "file", cfg.adminTokenFile)
		}})
		if err != nil {
			return err
		}
		adminToken = tf
	}
	if err := admin.CheckExposure(cfg.adminAddr, adminToken); err != nil {
		return err
	}
	xdsCreds, err := cfg.xdsTLS.credentials(cfg.xdsAddr, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	xdsMetrics := server.NewMetrics(reg)

	cache := server.NewCache(server.CacheOptions{
		OnPush:          xdsMetrics.Pushed,
		OnDeltaOverflow: xdsMetrics.DeltaOverflow,
		OnSnapshotError: func(key xds.GroupKey, err error) {
			xdsMetrics.SnapshotError()
			log.Error("snapshot failed; the group keeps its last configuration", "group", key.String(), "error", err)
		},
	})
	registry := server.NewRegistry(cache, xdsMetrics)
	staged := server.NewPublisher(cache, registry)
	defer staged.Close()

	var kube *kubeSources
	if cfg.kube.enabled {
		var err error
		if kube, err = newKubeSources(cfg.kube, log.Named("k8s")); err != nil {
			return err
		}
	}
	defs, _ := metrics.NewDefinitions() // the built-ins, until a policy is read
	observer := analysis.NewMetricsObserver(ctx, defs, newSlog(log.Named("metrics")))
	pipe := pipeline.New(pipeline.Config{Stager: staged, Routes: registry, Observer: observer, Metrics: xdsMetrics, Log: log})
	var store analysis.StateStore
	if cfg.kube.leaderElect {
		store = kube.stateStore()
	} else {
		fileStore, err := analysis.NewStore(cfg.stateDir)
		if err != nil {
			return err
		}
		store = fileStore
	}
	// Webhooks are sent by the replica that runs the experiments: every
	// one of a single process; the leader's under --leader-elect.
	active, leader := func() bool { return true }, func() string { return "" }
	if cfg.kube.leaderElect {
		active, leader = kube.isLeading, kube.leaderName
	}
	hooks := newExperimentHooks(log, active)
	defer hooks.close()
	runnerCfg := analysis.RunnerConfig{
		Store:     store,
		Observer:  observer,
		Publisher: pipe,
		Log:       log.Named("analysis"),
		Follower:  cfg.kube.leaderElect,
	}
	hooks.configure(&runnerCfg, leader)
	runner, err := analysis.NewRunner(runnerCfg)
	if err != nil {
		return err
	}
	hooks.runner = runner
	pipe.SetRunner(runner)
	lastGood, err := files.NewLastGoodDir(filepath.Join(cfg.stateDir, "policies"))
	if err != nil {
		return err
	}
	var sources []string
	if kube != nil {
		sources = []string{k8s.ConfigMapSource}
	}
	watcher, err := files.NewWatcher(cfg.policies, files.WatcherOptions{Publish: func(m *policy.Model) { pipe.SetModel(ctx, m) }, Logger: newSlog(log.Named("policy")), LastGood: lastGood, Sources: sources, Settle: cfg.policySettle})
	if err != nil {
		return err
	}
	hooks.model = watcher.Model
	cfg.xdsTLS.warnUnbound(log, watcher.Model())
	errc := make(chan error, 8)
	if kube != nil {
		if err := kube.start(ctx, watcher, pipe.EndpointsChanged, errc); err != nil {
			return err
		}
		pipe.SetEndpoints(kube.endpoints)
	}
	registerPolicyMetrics(reg, watcher)
	reg.MustRegister(admin.NewExperimentCollector(runner))
	for _, p := range files.Problems(watcher.Status()) {
		log.Warn("policy file rejected", "problem", p.Error())
	}
	defer runner.Wait()
	defer cancel() // before Wait: experiment loops stop with ctx
	if err := pipe.Start(ctx, watcher.Model()); err != nil {
		return err
	}
	if cfg.kube.leaderElect {
		if err := kube.lead(ctx, runner, errc); err != nil {
			return err
		}
	}

	xdsLis, err := net.Listen("tcp", cfg.xdsAddr)
	if err != nil {
		return fmt.Errorf("xDS address: %w", err)
	}
	adminLis, err := net.Listen("tcp", cfg.adminAddr)
	if err != nil {
		xdsLis.Close()
		return fmt.Errorf("admin address: %w", err)
	}
	adminScheme, err := cfg.adminTLS.wrap(&adminLis, log)
	if err != nil {
		xdsLis.Close()
		adminLis.Close()
		return err
	}
	if !admin.IsLoopback(cfg.adminAddr) {
		log.Warn("admin API is not on loopback: it shows every upstream address", "addr", cfg.adminAddr)
	}

	adminCfg := admin.Config{
		Proxies: registry, Snapshots: cache, Policies: watcher, Experiments: runner,
		Ready: pipe.Ready, Gatherer: reg, AllowedHosts: splitList(cfg.adminHost),
		Controls: runner, Token: adminToken,
	}
	if cfg.kube.leaderElect {
		adminCfg.Leadership = kube.elector
	}
	adminSrv := &http.Server{
		Handler:           admin.NewHandler(adminCfg),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       adminIdleTimeout,
		MaxHeaderBytes:    adminMaxHeaderBytes,
		ErrorLog:          adminErrorLog(log),
	}
	xdsPenalties := cfg.xdsConns.penalties()
	xdsSrv := server.New(ctx, cache, registry, server.Options{
		Penalties: xdsPenalties,
		OnLimit: func(peer, nodeID string, err error) {
			xdsMetrics.OverLimit()
			log.Warn("xDS stream closed: over a limit", "peer", peer, "node", nodeID, "error", status.Convert(err).Message())
		},
		Creds: xdsCreds,
		OnDenied: func(peer, nodeID string, err error) {
			log.Warn("xDS stream refused: identity may not claim its node", "peer", peer, "node", nodeID, "error", status.Convert(err).Message())
		},
	})

	log.Info("xDS (ADS over gRPC, state of the world and delta) listening", "addr", xdsLis.Addr().String())
	log.Info("admin API listening", "url", adminScheme+"://"+adminLis.Addr().String())
	log.Info("point Envoy at it", "command", fmt.Sprintf("shadowplane bootstrap --xds %s --node NODE --cluster CLUSTER%s > envoy.yaml && envoy -c envoy.yaml", xdsLis.Addr(), cfg.xdsTLS.bootstrapFlags()))
	log.Info("or a proxyless gRPC client", "target", "xds:///HOST", "bootstrap", "GRPC_XDS_BOOTSTRAP pointing at server_uri "+xdsLis.Addr().String())

	xdsLis = cfg.xdsConns.limit(xdsLis, log, xdsMetrics, xdsPenalties)
	go func() { errc <- xdsSrv.Serve(ctx, xdsLis) }()
	go func() {
		if err := adminSrv.Serve(adminLis); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	go func() { errc <- watcher.Run(ctx) }()

	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
	}
	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	adminSrv.Shutdown(shutdownCtx)
	return first
}

// registerPolicyMetrics exports the watcher's counters.
func registerPolicyMetrics(reg prometheus.Registerer, w *files.Watcher) {
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "shadowplane_policy_reloads_total",
			Help: "Rebuilds of the model after a policy file changed.",
		}, func() float64 { return float64(w.Stats().Reloads) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "shadowplane_policy_reload_errors_total",
			Help: "Reloads that rejected a changed policy file; its last good version kept being served.",
		}, func() float64 { return float64(w.Stats().ReloadErrors) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shadowplane_policy_reload_duration_seconds",
			Help: "Duration of the last policy reload.",
		}, func() float64 { return w.Stats().LastReloadDuration.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "shadowplane_policy_files_with_errors",
			Help: "Policy files whose current content is rejected.",
		}, func() float64 {
			n := 0
			for _, s := range w.Status() {
				if !s.OK {
					n++
				}
			}
			return float64(n)
		}),
	)
}
