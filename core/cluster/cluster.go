// Package cluster makes several quantixd servers sharing one database work
// as one control plane: each server registers itself and beats a heartbeat
// in the database, and one of them leads, holding a lease row with an epoch
// (store.ClusterRepo). Cluster-wide duties run only on the leader, with a
// context fenced by its epoch (store.WithFence), so that a deposed leader's
// writes fail with store.ErrFenced once a successor has taken the lease.
//
// Times of the lease are the database's clock. The leader also keeps a
// local deadline on its own monotonic clock: the start of its last
// successful renewal + lease_ttl - renew_interval. Past it, without a
// renewal, it stops leading (its duties' contexts end) before the lease
// can lapse in the database and another server take it.
//
// On SQLite the same code runs with a single server, which leads at once.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/store"
)

// Defaults of the lease (server.cluster { lease_ttl, renew_interval }).
const (
	DefaultLeaseTTL      = 6 * time.Second
	DefaultRenewInterval = time.Second
)

// pruneAfter is how long a server may stay silent (dead or stopped) before
// the leader deletes its row; until then it is listed as not alive.
const pruneAfter = time.Hour

// pruneEvery is how often the leader prunes silent servers.
const pruneEvery = time.Minute

// Options configure a Cluster.
type Options struct {
	// Store is the shared database.
	Store store.Store
	// ID identifies this server process; a fresh uuid when empty. It must
	// be new at every start.
	ID string
	// Name is the server's configured name (server.name).
	Name string
	// APIAddr is the URL of this server's REST API; RPCAddr the host:port
	// other servers and agents reach its agent port at.
	APIAddr, RPCAddr string
	// Version is the quantixd version.
	Version string
	// LeaseTTL is how long the lease lasts without renewal; RenewInterval
	// how often the leader renews it (and every server beats its
	// heartbeat). 0 means the defaults; see CheckTimes.
	LeaseTTL, RenewInterval time.Duration
	// Exclusive says no other server can share the database (SQLite,
	// under its lock): a lease a previous process left behind is taken
	// over at start instead of waited out.
	Exclusive bool
	// Logger receives elections and step-downs; nil discards.
	Logger hclog.Logger
}

// duty is a function run while this server leads.
type duty struct {
	name string
	fn   func(ctx context.Context)
}

// Cluster is this server's membership in the cluster and its part in the
// leader election.
type Cluster struct {
	opts Options
	repo store.ClusterRepo
	log  hclog.Logger

	mu      sync.Mutex
	duties  []duty
	started bool
	// lastOK is the start (monotonic) of the last round trip to the
	// database that succeeded (New's time before the first).
	lastOK time.Time
	// leading, epoch: the term this server leads, if any; term counts
	// terms so that a stale deadline timer does not end a later one.
	leading bool
	epoch   int64
	term    uint64
	// stepDowns counts the terms that ended (metrics.go).
	stepDowns uint64
	cancel    context.CancelFunc
	deadline  *time.Timer
	dutyWG    sync.WaitGroup
}

// New checks opts and returns a Cluster; Run makes it take part.
func New(opts Options) (*Cluster, error) {
	if opts.Store == nil {
		return nil, errors.New("cluster: no store")
	}
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.RenewInterval == 0 {
		opts.RenewInterval = DefaultRenewInterval
	}
	if err := CheckTimes(opts.LeaseTTL, opts.RenewInterval); err != nil {
		return nil, err
	}
	if opts.ID == "" {
		opts.ID = uuid.NewString()
	}
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	// The store was just opened: the database counts as reached now.
	c := &Cluster{opts: opts, repo: opts.Store.Cluster(), log: log.Named("cluster"), lastOK: time.Now()}
	c.Lead("prune-servers", c.pruneServers)
	return c, nil
}

// CheckTimes validates a lease ttl and renew interval: both positive, the
// interval at most half the ttl, so that the leader's local deadline
// (ttl - interval after a renewal began) leaves room for one more renewal.
func CheckTimes(ttl, renew time.Duration) error {
	switch {
	case ttl <= 0:
		return fmt.Errorf("lease_ttl %s must be positive", ttl)
	case renew <= 0:
		return fmt.Errorf("renew_interval %s must be positive", renew)
	case renew*2 > ttl:
		return fmt.Errorf("renew_interval %s must be at most half of lease_ttl %s", renew, ttl)
	}
	return nil
}

// SetAPIAddr sets the URL of this server's REST API, once it is known;
// call it before Run.
func (c *Cluster) SetAPIAddr(url string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opts.APIAddr = url
}

// ID returns this server's id in the cluster.
func (c *Cluster) ID() string { return c.opts.ID }

// Lead registers a duty: fn runs, in its own goroutine, with a ctx carrying
// store.WithFence(epoch), whenever this server leads; ctx ends when it
// stops leading (lease lost, database unreachable past the local deadline,
// or Run ending); fn runs again on re-election. fn should return soon after
// ctx ends. Register duties before Run.
func (c *Cluster) Lead(name string, fn func(ctx context.Context)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		panic("cluster: Lead(" + name + ") after Run")
	}
	c.duties = append(c.duties, duty{name: name, fn: fn})
}

// Leading returns the epoch of the term this server leads, if it does.
func (c *Cluster) Leading() (epoch int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.epoch, c.leading
}

// Healthy reports whether this server reached the database recently
// enough: false once the last successful round trip began more than
// lease_ttl - renew_interval ago. The API answers
// writes 503 meanwhile. It counts from New until Run's first round trip.
func (c *Cluster) Healthy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Since(c.lastOK) < c.opts.LeaseTTL-c.opts.RenewInterval
}

// Run registers this server, beats its heartbeat and campaigns for the
// lease every renew_interval until ctx ends; then it stops the duties,
// releases the lease (another server takes it at once) and marks the
// server stopped. A database that does not answer at first only delays
// the registration. It returns an error only when called twice.
func (c *Cluster) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("cluster: Run called twice")
	}
	c.started = true
	c.mu.Unlock()

	start := time.Now()
	if err := c.register(ctx); err != nil {
		// The loop registers it as soon as the database answers.
		c.log.Error("cannot register this server in the cluster yet; retrying", "error", err)
	} else {
		c.markOK(start)
		c.log.Info("joined the cluster", "id", c.opts.ID, "name", c.opts.Name, "api_addr", c.opts.APIAddr, "rpc_addr", c.opts.RPCAddr)
	}
	if c.opts.Exclusive {
		if l, err := c.repo.Leader(ctx); err == nil && l.ServerID != "" && l.ServerID != c.opts.ID {
			if err := c.repo.Release(ctx, l.ServerID, l.Epoch); err != nil {
				c.log.Warn("could not free the lease a previous process left", "error", err)
			}
		}
	}

	t := time.NewTicker(c.opts.RenewInterval)
	defer t.Stop()
	var lastEpoch int64
	failing := false
	for {
		lastEpoch, failing = c.tick(ctx, lastEpoch, failing)
		select {
		case <-ctx.Done():
			c.shutdown()
			return nil
		case <-t.C:
		}
	}
}

// register records this server in the database.
func (c *Cluster) register(ctx context.Context) error {
	c.mu.Lock()
	rec := store.ServerRecord{
		ID: c.opts.ID, Name: c.opts.Name, APIAddr: c.opts.APIAddr, RPCAddr: c.opts.RPCAddr, Version: c.opts.Version,
	}
	c.mu.Unlock()
	return c.repo.RegisterServer(ctx, &rec)
}

// markOK records that a round trip begun at start succeeded.
func (c *Cluster) markOK(start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if start.After(c.lastOK) {
		c.lastOK = start
	}
}

// tick beats the heartbeat and takes or renews the lease. lastEpoch is the
// epoch this server last held (renewed if it still holds it); failing
// whether the previous tick failed (to log a failure once).
func (c *Cluster) tick(ctx context.Context, lastEpoch int64, failing bool) (int64, bool) {
	// Each round trip may take at most one interval, so that a hung
	// connection does not hold up the loop past the deadline.
	cctx, cancel := context.WithTimeout(ctx, c.opts.RenewInterval)
	defer cancel()
	err := c.repo.TouchServer(cctx, c.opts.ID)
	if errors.Is(err, store.ErrNotFound) {
		// Pruned while this server could not reach the database.
		err = c.register(cctx)
	}
	if err != nil {
		if ctx.Err() == nil && !failing {
			c.log.Error("cannot reach the database; past lease_ttl - renew_interval without it this server stops leading and answers writes 503", "error", err)
		}
		return lastEpoch, true
	}
	start := time.Now()
	l, ok, err := c.repo.Acquire(cctx, c.opts.ID, lastEpoch, c.opts.LeaseTTL)
	if err != nil {
		if ctx.Err() == nil && !failing {
			c.log.Error("cannot renew or take the leader lease; past lease_ttl - renew_interval without it this server stops leading and answers writes 503", "error", err)
		}
		return lastEpoch, true
	}
	c.markOK(start)
	if failing {
		c.log.Info("reached the database again")
	}
	if !ok {
		c.stepDown("another server holds the lease", l.ServerID)
		return lastEpoch, false
	}
	c.lead(ctx, l.Epoch, start)
	return l.Epoch, false
}

// lead makes this server lead at epoch after a renewal begun at start, or
// keeps it leading: the deadline moves to start + ttl - interval.
func (c *Cluster) lead(ctx context.Context, epoch int64, start time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leading && c.epoch != epoch {
		c.stopLocked("the lease was taken again at a new epoch")
	}
	remaining := time.Until(start.Add(c.opts.LeaseTTL - c.opts.RenewInterval))
	if remaining <= 0 {
		// The renewal took longer than the lease leaves; do not lead on it.
		if c.leading {
			c.stopLocked("renewal came past the deadline")
		}
		return
	}
	if !c.leading {
		c.leading, c.epoch = true, epoch
		c.term++
		dctx, cancel := context.WithCancel(store.WithFence(ctx, epoch))
		c.cancel = cancel
		c.log.Info("leading the cluster", "epoch", epoch)
		for _, d := range c.duties {
			c.dutyWG.Add(1)
			go func() {
				defer c.dutyWG.Done()
				d.fn(dctx)
			}()
		}
	}
	term := c.term
	if c.deadline != nil {
		c.deadline.Stop()
	}
	c.deadline = time.AfterFunc(remaining, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.leading && c.term == term {
			c.stopLocked("the lease could not be renewed before the local deadline")
		}
	})
}

// stepDown stops leading, if this server leads.
func (c *Cluster) stepDown(reason, holder string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leading {
		c.stopLocked(reason + " (" + holder + ")")
	}
}

// stopLocked ends the term: the duties' contexts end. c.mu is held.
func (c *Cluster) stopLocked(reason string) {
	c.log.Warn("stopped leading the cluster", "epoch", c.epoch, "reason", reason)
	c.leading = false
	c.stepDowns++
	c.cancel()
	c.cancel = nil
	if c.deadline != nil {
		c.deadline.Stop()
		c.deadline = nil
	}
}

// shutdown ends the term and its duties, releases the lease and marks the
// server stopped.
func (c *Cluster) shutdown() {
	c.mu.Lock()
	epoch, leading := c.epoch, c.leading
	if leading {
		c.log.Info("handing over the leader lease", "epoch", epoch)
		c.leading = false
		c.stepDowns++
		c.cancel()
		c.cancel = nil
		if c.deadline != nil {
			c.deadline.Stop()
			c.deadline = nil
		}
	}
	c.mu.Unlock()
	c.dutyWG.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if leading {
		if err := c.repo.Release(ctx, c.opts.ID, epoch); err != nil {
			c.log.Warn("could not release the leader lease; it lapses at its expiry", "error", err)
		}
	}
	if err := c.repo.StopServer(ctx, c.opts.ID); err != nil {
		c.log.Warn("could not mark this server stopped", "error", err)
	}
}

// pruneServers is a leader duty: it deletes servers silent for pruneAfter.
func (c *Cluster) pruneServers(ctx context.Context) {
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		if n, err := c.repo.PruneServers(ctx, pruneAfter); err != nil && ctx.Err() == nil {
			c.log.Warn("pruning silent servers", "error", err)
		} else if n > 0 {
			c.log.Info("pruned silent servers", "count", n, "silent_for", pruneAfter)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Status is the cluster as the database has it.
type Status struct {
	// Now is the database's clock when the status was read.
	Now time.Time
	// Servers are every registered server, oldest first.
	Servers []ServerStatus
	// Leader is the holder of a live lease; nil when nobody leads.
	Leader *LeaderStatus
	// Epoch is the lease's epoch as stored, even when it has lapsed.
	Epoch int64
}

// ServerStatus is one server of Status.
type ServerStatus struct {
	store.ServerRecord
	// Alive: not stopped and a heartbeat within lease_ttl.
	Alive bool
	// Leader: holds the live lease.
	Leader bool
	// Nodes are the nodes whose agent session the server holds, by name.
	Nodes []NodeRef
}

// NodeRef names a node.
type NodeRef struct {
	ID, Name string
}

// LeaderStatus is the live lease of Status.
type LeaderStatus struct {
	ServerID, Name        string
	Epoch                 int64
	AcquiredAt, ExpiresAt time.Time
}

// Status reads the servers, the lease and the node sessions.
func (c *Cluster) Status(ctx context.Context) (Status, error) {
	now, err := c.repo.Now(ctx)
	if err != nil {
		return Status{}, err
	}
	servers, err := c.repo.Servers(ctx)
	if err != nil {
		return Status{}, err
	}
	lease, err := c.repo.Leader(ctx)
	if err != nil {
		return Status{}, err
	}
	sessions, err := c.repo.NodeSessions(ctx)
	if err != nil {
		return Status{}, err
	}
	names := map[string]string{}
	if len(sessions) > 0 {
		nodes, err := c.opts.Store.Nodes().List(ctx)
		if err != nil {
			return Status{}, err
		}
		for _, n := range nodes {
			names[n.ID] = n.Name
		}
	}
	held := map[string][]NodeRef{}
	for _, s := range sessions {
		held[s.ServerID] = append(held[s.ServerID], NodeRef{ID: s.NodeID, Name: names[s.NodeID]})
	}
	st := Status{Now: now, Epoch: lease.Epoch, Servers: make([]ServerStatus, 0, len(servers))}
	live := lease.ServerID != "" && lease.ExpiresAt.After(now)
	if live {
		st.Leader = &LeaderStatus{ServerID: lease.ServerID, Epoch: lease.Epoch, AcquiredAt: lease.AcquiredAt, ExpiresAt: lease.ExpiresAt}
	}
	for _, r := range servers {
		s := ServerStatus{
			ServerRecord: r,
			Alive:        r.AliveAt(now, c.opts.LeaseTTL),
			Leader:       live && r.ID == lease.ServerID,
			Nodes:        held[r.ID],
		}
		slices.SortFunc(s.Nodes, func(a, b NodeRef) int { return strings.Compare(a.Name, b.Name) })
		if s.Nodes == nil {
			s.Nodes = []NodeRef{}
		}
		if s.Leader {
			st.Leader.Name = r.Name
		}
		st.Servers = append(st.Servers, s)
	}
	return st, nil
}
