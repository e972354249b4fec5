package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/quantixvm/quantix/core/cluster"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/version"
)

// lockSQLite keeps a second quantixd server off the SQLite database at
// path: it takes an exclusive flock(2) on path + ".lock" (created next to
// the database, holding the pid of its owner) for the life of the process,
// and refuses, naming the database and the owner, when another process
// holds it. The kernel drops the lock when the process ends, however it
// ends.
func lockSQLite(path string) (*os.File, error) {
	lockPath := path + ".lock"
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o750); err != nil {
		return nil, fmt.Errorf("creating the database directory: %w", err)
	}
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lock of SQLite database %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		owner := ""
		if b, rerr := os.ReadFile(lockPath); rerr == nil && strings.TrimSpace(string(b)) != "" {
			owner = " (pid " + strings.TrimSpace(string(b)) + ")"
		}
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("the SQLite database %s is in use by another quantixd server%s: SQLite is single-server; "+
				"stop that server, or run several servers on one PostgreSQL database (server.database.driver = \"postgres\", see docs/cluster.md)", path, owner)
		}
		return nil, fmt.Errorf("locking SQLite database %s (%s): %w", path, lockPath, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// newCluster makes this server's cluster membership: its name and the
// agent address it advertises (the API's URL is set once it listens).
func newCluster(cfg *config.Config, d *daemon) (*cluster.Cluster, error) {
	c, err := cluster.New(cluster.Options{
		Store:         d.store,
		Name:          cfg.Server.Name,
		RPCAddr:       cfg.Advertise(),
		Version:       version.Version,
		LeaseTTL:      cfg.Server.Cluster.LeaseTTL,
		RenewInterval: cfg.Server.Cluster.RenewInterval,
		Exclusive:     cfg.Server.Database.Driver == "sqlite",
		Logger:        d.log,
	})
	if err != nil {
		return nil, fmt.Errorf("server.cluster: %w", err)
	}
	return c, nil
}

// startCluster runs the cluster membership until stopCluster.
func (d *daemon) startCluster() {
	cctx, cancel := context.WithCancel(context.Background())
	d.clusterStop, d.clusterDone = cancel, make(chan struct{})
	go func() {
		defer close(d.clusterDone)
		if err := d.cluster.Run(cctx); err != nil {
			d.log.Error("this server could not join the cluster", "error", err)
		}
	}()
}

// stopCluster ends the membership: the leader duties stop, the lease is
// released (another server takes over at once) and the server is marked
// stopped. It may be called more than once.
func (d *daemon) stopCluster() {
	if d.clusterStop == nil {
		return
	}
	d.clusterStop()
	<-d.clusterDone
}

// apiURL is the URL other servers and clients reach this server's API at:
// the listener's address, a wildcard host replaced by the host this server
// advertises for its agent port.
func apiURL(scheme string, ln net.Addr, advertise string) string {
	host, port, err := net.SplitHostPort(ln.String())
	if err != nil {
		return scheme + "://" + ln.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		if h, _, err := net.SplitHostPort(advertise); err == nil && h != "" {
			host = h
		}
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
