package k8s

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Leader election (decision 0016): the replicas of serve compete for one
// coordination.k8s.io Lease with client-go's leaderelection; the holder
// runs the experiments, the others follow.

// Lease timing defaults, client-go's usual ones: a leader that cannot
// renew for RenewDeadline stops leading; a Lease not renewed for
// LeaseDuration may be taken by another replica, which tries every
// RetryPeriod. So a killed leader is replaced within LeaseDuration plus
// RetryPeriod, and two replicas never both believe they lead, as long as
// clocks run at the same rate (a leader gives up LeaseDuration -
// RenewDeadline before another may take over).
const (
	DefaultLeaseName     = "shadowplane-leader"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// ElectionConfig configures an Elector; zero fields take the defaults.
type ElectionConfig struct {
	Client kubernetes.Interface
	// Namespace holds the Lease; required.
	Namespace string
	// Name is the Lease's name; DefaultLeaseName if "".
	Name string
	// Identity names this replica in the Lease; "<hostname>_<pid>" if "".
	// Two replicas must never share one.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod: see the defaults.
	// LeaseDuration > RenewDeadline > 1.2 × RetryPeriod.
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration
}

// Callbacks are told of the election's outcomes. Each may be nil.
type Callbacks struct {
	// OnStartedLeading runs, in its own goroutine, when this replica
	// becomes the leader; ctx ends when it stops leading (or Run's ctx
	// ends). Runner.Lead.
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading is called when this replica stops leading (lost
	// the Lease, could not renew it, or Run's ctx ended), after
	// OnStartedLeading's ctx has ended, and only after a
	// OnStartedLeading. Runner.Follow.
	OnStoppedLeading func()
	// OnNewLeader is called when the Lease is seen held by a new
	// identity, this replica's included.
	OnNewLeader func(identity string)
}

// Elector runs the election for one replica: see Run.
type Elector struct {
	cfg ElectionConfig
	cb  Callbacks

	mu      sync.Mutex
	leading bool
	leader  string
	// resign ends the current round of the election.
	resign context.CancelFunc
}

// NewElector checks cfg and fills in its defaults.
func NewElector(cfg ElectionConfig, cb Callbacks) (*Elector, error) {
	if cfg.Client == nil || cfg.Namespace == "" {
		return nil, errors.New("k8s: leader election needs a client and a namespace")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultLeaseName
	}
	if cfg.Identity == "" {
		host, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("k8s: leader election identity: %w", err)
		}
		cfg.Identity = fmt.Sprintf("%s_%d", host, os.Getpid())
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = DefaultRenewDeadline
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = DefaultRetryPeriod
	}
	e := &Elector{cfg: cfg, cb: cb}
	if _, err := e.elector(); err != nil { // checks the timing
		return nil, fmt.Errorf("k8s: leader election: %w", err)
	}
	return e, nil
}

// Identity is this replica's name in the Lease.
func (e *Elector) Identity() string { return e.cfg.Identity }

// IsLeader reports whether this replica leads now: between
// OnStartedLeading and OnStoppedLeading.
func (e *Elector) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leading
}

// Leader is the identity last seen holding the Lease, or "" before any.
func (e *Elector) Leader() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leader
}

// Run takes part in the election until ctx ends: it waits to acquire the
// Lease, leads while it renews it, and after losing it competes again.
// When ctx ends while leading, the Lease is released (ReleaseOnCancel), so
// that another replica takes over at once rather than after
// LeaseDuration. It returns when ctx has ended and OnStoppedLeading, if
// due, has returned.
func (e *Elector) Run(ctx context.Context) {
	for ctx.Err() == nil {
		le, err := e.elector()
		if err != nil {
			panic(err) // checked by NewElector
		}
		round, cancel := context.WithCancel(ctx)
		e.mu.Lock()
		e.resign = cancel
		e.mu.Unlock()
		le.Run(round)
		cancel()
	}
}

// Resign gives the Lease up, if this replica leads: its leadership ends
// (OnStoppedLeading), the Lease is released, and Run competes again
// straight away, so this replica or another leads next, starting from
// what is saved. It does not block. StateOptions.OnConflict calls it.
func (e *Elector) Resign() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading && e.resign != nil {
		e.resign()
	}
}

// elector is one round of client-go's election: it returns after this
// replica lost the Lease, or when ctx ends.
func (e *Elector) elector() (*leaderelection.LeaderElector, error) {
	// started is this round's: client-go calls OnStoppedLeading at the end
	// of every round, led or not.
	var started bool
	return leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: e.cfg.Namespace, Name: e.cfg.Name},
			Client:     e.cfg.Client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: e.cfg.Identity},
		},
		LeaseDuration:   e.cfg.LeaseDuration,
		RenewDeadline:   e.cfg.RenewDeadline,
		RetryPeriod:     e.cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            e.cfg.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				// client-go starts this in a goroutine and ends ctx
				// before OnStoppedLeading: a round lost at once may
				// get here after that, and must not lead.
				e.mu.Lock()
				if ctx.Err() != nil {
					e.mu.Unlock()
					return
				}
				e.leading, started = true, true
				e.mu.Unlock()
				if e.cb.OnStartedLeading != nil {
					e.cb.OnStartedLeading(ctx)
				}
			},
			OnStoppedLeading: func() {
				e.mu.Lock()
				was := started
				e.leading, started = false, false
				e.mu.Unlock()
				if was && e.cb.OnStoppedLeading != nil {
					e.cb.OnStoppedLeading()
				}
			},
			OnNewLeader: func(id string) {
				e.mu.Lock()
				e.leader = id
				e.mu.Unlock()
				if e.cb.OnNewLeader != nil {
					e.cb.OnNewLeader(id)
				}
			},
		},
	})
}
