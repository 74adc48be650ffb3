package k8s

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/shadowplane/shadowplane/test/kube"
)

// Short lease timing for tests: a lost leader is replaced in about 2 s.
const (
	testLease   = 2 * time.Second
	testRenew   = time.Second
	testRetry   = 250 * time.Millisecond
	testTimeout = 30 * time.Second // a deadline for waits on the API server, on a busy machine
)

// candidate is one replica in an election, recording what it is told.
type candidate struct {
	*Elector
	started chan context.Context
	stopped chan struct{}
	leaders chan string
	cancel  context.CancelFunc
	done    chan struct{}
}

func runCandidate(t *testing.T, c *kube.Cluster, ns, id string) *candidate {
	t.Helper()
	cd := &candidate{
		started: make(chan context.Context, 10), stopped: make(chan struct{}, 10),
		leaders: make(chan string, 100), done: make(chan struct{}),
	}
	e, err := NewElector(ElectionConfig{
		Client: c.Client, Namespace: ns, Identity: id,
		LeaseDuration: testLease, RenewDeadline: testRenew, RetryPeriod: testRetry,
	}, Callbacks{
		OnStartedLeading: func(ctx context.Context) { cd.started <- ctx },
		OnStoppedLeading: func() { cd.stopped <- struct{}{} },
		OnNewLeader:      func(id string) { cd.leaders <- id },
	})
	if err != nil {
		t.Fatal(err)
	}
	cd.Elector = e
	ctx, cancel := context.WithCancel(context.Background())
	cd.cancel = cancel
	go func() {
		defer close(cd.done)
		e.Run(ctx)
	}()
	t.Cleanup(cd.stop)
	return cd
}

// stop ends the candidate's Run and waits for it.
func (cd *candidate) stop() {
	cd.cancel()
	<-cd.done
}

// waitStarted waits for cd to lead: the API server is another process, so
// the wait has a deadline.
func waitStarted(t *testing.T, cds ...*candidate) (*candidate, context.Context) {
	t.Helper()
	cases := make(chan *candidate, len(cds))
	ctxs := make(chan context.Context, len(cds))
	stop := make(chan struct{})
	defer close(stop)
	for _, cd := range cds {
		go func() {
			select {
			case ctx := <-cd.started:
				cases <- cd
				ctxs <- ctx
			case <-stop:
			}
		}()
	}
	select {
	case cd := <-cases:
		return cd, <-ctxs
	case <-time.After(testTimeout):
		t.Fatalf("no candidate led within %s", testTimeout)
	}
	return nil, nil
}

func waitStopped(t *testing.T, cd *candidate, ctx context.Context) {
	t.Helper()
	select {
	case <-cd.stopped:
	case <-time.After(testTimeout):
		t.Fatalf("%s did not stop leading within %s", cd.Identity(), testTimeout)
	}
	select {
	case <-ctx.Done():
	default:
		t.Fatal("OnStoppedLeading came before the leadership's context ended")
	}
}

// Two replicas: exactly one leads, both know which; when the leader
// stops, it releases the Lease and the other takes over well within the
// Lease's duration.
func TestLeaseElectsOneLeaderAndHandsOver(t *testing.T) {
	c := kube.Start(t)
	ns := c.Namespace(t)
	a, b := runCandidate(t, c, ns, "replica-a"), runCandidate(t, c, ns, "replica-b")
	leader, leadCtx := waitStarted(t, a, b)
	other := a
	if leader == a {
		other = b
	}
	if !leader.IsLeader() || other.IsLeader() {
		t.Fatalf("%s started leading: IsLeader %v, %s IsLeader %v; want exactly the one", leader.Identity(), leader.IsLeader(), other.Identity(), other.IsLeader())
	}
	// Over several renewals, the other never leads and both name the
	// leader.
	watch := time.After(3 * testLease)
	for done := false; !done; {
		select {
		case <-other.started:
			t.Fatalf("%s led too, while %s leads", other.Identity(), leader.Identity())
		case <-leader.stopped:
			t.Fatalf("%s stopped leading while renewing", leader.Identity())
		case <-watch:
			done = true
		}
	}
	if leader.Leader() != leader.Identity() || other.Leader() != leader.Identity() {
		t.Errorf("Leader(): %q and %q, want %q for both", leader.Leader(), other.Leader(), leader.Identity())
	}

	began := time.Now()
	leader.stop()
	waitStopped(t, leader, leadCtx)
	waitStarted(t, other)
	if time.Since(began) > testLease {
		t.Errorf("took over in %s, want within the Lease duration %s (the Lease is released)", time.Since(began), testLease)
	} else {
		t.Logf("took over in %s", time.Since(began).Round(time.Millisecond))
	}
	if !other.IsLeader() || leader.IsLeader() {
		t.Fatal("IsLeader did not follow the hand-over")
	}
}

// A leader whose Lease another holder has taken stops leading (its
// context ends, OnStoppedLeading is called); once that holder lets the
// Lease expire, it competes again and leads again.
func TestLeaseTakenOverStopsTheLeader(t *testing.T) {
	c := kube.Start(t)
	ns := c.Namespace(t)
	a := runCandidate(t, c, ns, "replica-a")
	_, ctx := waitStarted(t, a)

	leases := c.Client.CoordinationV1().Leases(ns)
	intruder, seconds := "intruder", int32(testLease/time.Second)
	// The leader renews every RetryPeriod: take the Lease between two
	// renewals, trying again when one came in between.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		lease, err := leases.Get(t.Context(), DefaultLeaseName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.NewMicroTime(time.Now())
		lease.Spec.HolderIdentity, lease.Spec.RenewTime, lease.Spec.AcquireTime, lease.Spec.LeaseDurationSeconds = &intruder, &now, &now, &seconds
		_, err = leases.Update(t.Context(), lease, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	taken := time.Now()
	waitStopped(t, a, ctx)
	if a.IsLeader() {
		t.Fatal("still IsLeader after OnStoppedLeading")
	}
	t.Logf("stopped leading %s after the Lease was taken", time.Since(taken).Round(time.Millisecond))
	waitLeader(t, a, intruder)
	// The intruder never renews: a leads again once the Lease expires.
	waitStarted(t, a)
	if since := time.Since(taken); since < testLease {
		t.Errorf("led again after %s, before the intruder's Lease (%s) expired", since, testLease)
	}
}

// waitLeader waits until cd has been told that id leads.
func waitLeader(t *testing.T, cd *candidate, id string) {
	t.Helper()
	deadline := time.After(testTimeout)
	for {
		select {
		case got := <-cd.leaders:
			if got == id {
				return
			}
		case <-deadline:
			t.Fatalf("%s was never told %s leads", cd.Identity(), id)
		}
	}
}

// A leader that resigns (its view of the states is stale) stops leading,
// releases the Lease, and competes again at once.
func TestLeaseResignLeadsAgainFromScratch(t *testing.T) {
	c := kube.Start(t)
	ns := c.Namespace(t)
	a := runCandidate(t, c, ns, "replica-a")
	_, ctx := waitStarted(t, a)
	began := time.Now()
	a.Resign()
	waitStopped(t, a, ctx)
	if _, ctx2 := waitStarted(t, a); ctx2.Err() != nil {
		t.Fatal("led again with an ended context")
	}
	if took := time.Since(began); took > testLease {
		t.Errorf("led again %s after resigning, want within the Lease duration %s (the Lease is released)", took, testLease)
	}
}
