package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ErrFenced: a fenced transaction (WithFence) found that the cluster's
// leader epoch is no longer the one it was fenced with: another server has
// taken the lease since, and nothing the transaction meant to write was
// written. Never retry it as stale: the caller no longer leads.
var ErrFenced = errors.New("fenced: this server no longer holds the leader lease")

// ServerRecord is a row of cluster_servers: one quantixd server process.
type ServerRecord struct {
	// ID is fresh at every start of the process.
	ID string
	// Name is the server's configured name (server.name).
	Name string
	// APIAddr is the URL of the server's REST API; RPCAddr the host:port
	// of its agent port as other servers and agents reach it.
	APIAddr, RPCAddr string
	// Version is the quantixd version the server runs.
	Version string
	// StartedAt is when the server registered; HeartbeatAt when it last
	// said it was alive (both the database's clock).
	StartedAt, HeartbeatAt time.Time
	// StoppedAt is when the server shut down cleanly; nil while it runs
	// (or after it died without saying so).
	StoppedAt *time.Time
}

// AliveAt says whether the server runs at now (the database's clock): it
// has not stopped and its last heartbeat is less than within old.
func (r ServerRecord) AliveAt(now time.Time, within time.Duration) bool {
	return r.StoppedAt == nil && now.Sub(r.HeartbeatAt) < within
}

// Lease is the cluster's leader lease.
type Lease struct {
	// ServerID holds the lease; "" when nobody ever took it.
	ServerID string
	// Epoch counts the times the lease changed hands (or was taken again
	// after it expired); the leader's writes are fenced by it.
	Epoch int64
	// AcquiredAt is when the holder took the lease at this epoch;
	// ExpiresAt when it lapses unless renewed (the database's clock).
	AcquiredAt, ExpiresAt time.Time
}

// NodeSession says which server holds a node's live agent session.
type NodeSession struct {
	NodeID, ServerID, SessionID string
	// AttachedAt is when the session was claimed, HeartbeatAt when its
	// holder last touched it (the database's clock).
	AttachedAt, HeartbeatAt time.Time
}

// ClusterRepo is the membership of the servers sharing the database, the
// leader lease and who holds each node's session. Times written are the
// database's clock (PostgreSQL's statement_timestamp(), one time per
// statement; on SQLite, which only one process uses, the process's clock),
// never compared with a server's own clock.
type ClusterRepo interface {
	// RegisterServer inserts or replaces the server with rec.ID, with
	// started_at and heartbeat_at now and stopped_at cleared; rec's times
	// are set to what is stored. An empty id is ErrInvalid.
	RegisterServer(ctx context.Context, rec *ServerRecord) error
	// TouchServer sets the heartbeat of server id to now (and clears
	// stopped_at); ErrNotFound if it is not registered (it was pruned).
	TouchServer(ctx context.Context, id string) error
	// StopServer records that server id shut down cleanly, now.
	StopServer(ctx context.Context, id string) error
	// Servers returns every registered server, in started_at then id order.
	Servers(ctx context.Context) ([]ServerRecord, error)
	// PruneServers deletes the servers whose last heartbeat is older than
	// silentFor (and the node sessions they held), and returns how many
	// servers it deleted. The lease's holder is never deleted.
	PruneServers(ctx context.Context, silentFor time.Duration) (int, error)
	// Acquire takes the lease for serverID when it is free or expired (at
	// the stored epoch + 1), or renews it when serverID holds it at epoch
	// and it has not expired (same epoch); either way the lease then
	// expires ttl from now. ok is false, with the lease as stored, when
	// another server holds a live lease, or when serverID's own lease at
	// epoch has been taken over. It is one conditional UPDATE on the
	// database's clock: of servers racing, one wins.
	Acquire(ctx context.Context, serverID string, epoch int64, ttl time.Duration) (l Lease, ok bool, err error)
	// Release expires the lease now if serverID still holds it at epoch,
	// so that another server may take it at once; otherwise it does
	// nothing.
	Release(ctx context.Context, serverID string, epoch int64) error
	// Leader returns the lease as stored (expired or not).
	Leader(ctx context.Context) (Lease, error)
	// Now returns the database's clock, the one lease and heartbeat times
	// are in.
	Now(ctx context.Context) (time.Time, error)

	// ClaimNode records that s.ServerID holds node s.NodeID's session
	// s.SessionID, replacing any claim: the newest claim wins. Its
	// attached and heartbeat times are now. Empty ids are ErrInvalid.
	ClaimNode(ctx context.Context, s NodeSession) error
	// ReleaseNode deletes node nodeID's claim if it is still session
	// sessionID's; a claim by a newer session stays.
	ReleaseNode(ctx context.Context, nodeID, sessionID string) error
	// TouchNodes sets the heartbeat time of serverID's claims on nodeIDs
	// to now, in one statement; claims of other servers are left alone.
	TouchNodes(ctx context.Context, serverID string, nodeIDs []string) error
	// NodeHolder returns the claim on nodeID, or ErrNotFound.
	NodeHolder(ctx context.Context, nodeID string) (NodeSession, error)
	// NodeSessions returns every claim, in node id order.
	NodeSessions(ctx context.Context) ([]NodeSession, error)
}

// fenceKey is the context key of WithFence.
type fenceKey struct{}

// WithFence returns ctx fenced by the leader epoch: a Tx run with it checks,
// inside the transaction and before fn, that the lease's epoch is still
// epoch, and fails with ErrFenced otherwise. On PostgreSQL the check locks
// the lease row FOR SHARE, so a successor's Acquire waits for fenced
// transactions in flight and every later one sees the new epoch.
func WithFence(ctx context.Context, epoch int64) context.Context {
	return context.WithValue(ctx, fenceKey{}, epoch)
}

// FenceOf returns the epoch ctx is fenced by, if any.
func FenceOf(ctx context.Context) (int64, bool) {
	e, ok := ctx.Value(fenceKey{}).(int64)
	return e, ok
}

// checkFence fails with ErrFenced when ctx is fenced by an epoch that is no
// longer the lease's. tx is a transaction.
func (s *sqlStore) checkFence(ctx context.Context, tx *gorm.DB) error {
	epoch, ok := FenceOf(ctx)
	if !ok {
		return nil
	}
	q := "SELECT epoch FROM cluster_leader WHERE id = 1"
	if s.dialect == dialectPostgres {
		q += " FOR SHARE"
	}
	var cur []int64
	if err := tx.WithContext(ctx).Raw(q).Scan(&cur).Error; err != nil {
		return fmt.Errorf("checking the leader epoch: %w", err)
	}
	if len(cur) != 1 {
		return fmt.Errorf("checking the leader epoch: the cluster_leader row is missing")
	}
	if cur[0] != epoch {
		return fmt.Errorf("%w (fenced at epoch %d, the lease is at epoch %d)", ErrFenced, epoch, cur[0])
	}
	return nil
}

// Cluster returns the cluster repository.
func (s *sqlStore) Cluster() ClusterRepo { return clusterRepo{s} }

// serverRow is a row of cluster_servers.
type serverRow struct {
	ID          string  `gorm:"column:id;primaryKey"`
	Name        string  `gorm:"column:name"`
	APIAddr     string  `gorm:"column:api_addr"`
	RPCAddr     string  `gorm:"column:rpc_addr"`
	Version     string  `gorm:"column:version"`
	StartedAt   dbTime  `gorm:"column:started_at"`
	HeartbeatAt dbTime  `gorm:"column:heartbeat_at"`
	StoppedAt   *dbTime `gorm:"column:stopped_at"`
}

// TableName is the table of serverRow.
func (serverRow) TableName() string { return "cluster_servers" }

func (r *serverRow) toRecord() ServerRecord {
	return ServerRecord{
		ID: r.ID, Name: r.Name, APIAddr: r.APIAddr, RPCAddr: r.RPCAddr, Version: r.Version,
		StartedAt: time.Time(r.StartedAt), HeartbeatAt: time.Time(r.HeartbeatAt), StoppedAt: fromDBTimePtr(r.StoppedAt),
	}
}

// leaseRow is the row of cluster_leader.
type leaseRow struct {
	ServerID   string `gorm:"column:server_id"`
	Epoch      int64  `gorm:"column:epoch"`
	AcquiredAt dbTime `gorm:"column:acquired_at"`
	ExpiresAt  dbTime `gorm:"column:expires_at"`
}

func (r *leaseRow) toLease() Lease {
	return Lease{ServerID: r.ServerID, Epoch: r.Epoch, AcquiredAt: time.Time(r.AcquiredAt), ExpiresAt: time.Time(r.ExpiresAt)}
}

// nodeSessionRow is a row of node_sessions.
type nodeSessionRow struct {
	NodeID      string `gorm:"column:node_id;primaryKey"`
	ServerID    string `gorm:"column:server_id"`
	SessionID   string `gorm:"column:session_id"`
	AttachedAt  dbTime `gorm:"column:attached_at"`
	HeartbeatAt dbTime `gorm:"column:heartbeat_at"`
}

// TableName is the table of nodeSessionRow.
func (nodeSessionRow) TableName() string { return "node_sessions" }

func (r *nodeSessionRow) toSession() NodeSession {
	return NodeSession{
		NodeID: r.NodeID, ServerID: r.ServerID, SessionID: r.SessionID,
		AttachedAt: time.Time(r.AttachedAt), HeartbeatAt: time.Time(r.HeartbeatAt),
	}
}

// clusterRepo is the ClusterRepo of a sqlStore.
type clusterRepo struct{ s *sqlStore }

// now is the SQL of the database's clock and its argument: PostgreSQL's
// statement_timestamp() (the same all through a statement, so that the
// times one statement writes agree); on SQLite (a single process) this
// process's clock as a bound parameter.
func (r clusterRepo) now() (string, []any) {
	if r.s.dialect == dialectPostgres {
		return "statement_timestamp()", nil
	}
	return "?", []any{dbTime(time.Now())}
}

// plus is the SQL of the database's clock plus d, and its arguments.
func (r clusterRepo) plus(d time.Duration) (string, []any) {
	if r.s.dialect == dialectPostgres {
		return "(statement_timestamp() + ? * interval '1 microsecond')", []any{d.Microseconds()}
	}
	return "?", []any{dbTime(time.Now().Add(d))}
}

// Now returns the database's clock.
func (r clusterRepo) Now(ctx context.Context) (time.Time, error) {
	if r.s.dialect != dialectPostgres {
		return normTime(time.Now()), nil
	}
	var t []dbTime
	if err := r.s.read(ctx).Raw("SELECT statement_timestamp()").Scan(&t).Error; err != nil {
		return time.Time{}, fmt.Errorf("reading the database clock: %w", err)
	}
	if len(t) != 1 {
		return time.Time{}, errors.New("reading the database clock: no row")
	}
	return time.Time(t[0]), nil
}

// RegisterServer upserts rec with started_at and heartbeat_at now.
func (r clusterRepo) RegisterServer(ctx context.Context, rec *ServerRecord) error {
	if rec == nil || rec.ID == "" {
		return fmt.Errorf("registering server: %w: empty id", ErrInvalid)
	}
	now, nargs := r.now()
	q := `INSERT INTO cluster_servers (id, name, api_addr, rpc_addr, version, started_at, heartbeat_at, stopped_at)
		VALUES (?, ?, ?, ?, ?, ` + now + `, ` + now + `, NULL)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, api_addr = excluded.api_addr,
			rpc_addr = excluded.rpc_addr, version = excluded.version, started_at = excluded.started_at,
			heartbeat_at = excluded.heartbeat_at, stopped_at = NULL
		RETURNING id, name, api_addr, rpc_addr, version, started_at, heartbeat_at, stopped_at`
	args := append([]any{rec.ID, rec.Name, rec.APIAddr, rec.RPCAddr, rec.Version}, nargs...)
	args = append(args, nargs...)
	var rows []serverRow
	err := r.s.write(ctx, false, func(tx *gorm.DB) error { return tx.Raw(q, args...).Scan(&rows).Error })
	if err != nil {
		return fmt.Errorf("registering server %s: %w", rec.ID, dbError(err))
	}
	if len(rows) != 1 {
		return fmt.Errorf("registering server %s: no row returned", rec.ID)
	}
	*rec = rows[0].toRecord()
	return nil
}

// TouchServer sets the heartbeat of server id to now.
func (r clusterRepo) TouchServer(ctx context.Context, id string) error {
	now, nargs := r.now()
	var n int64
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		res := tx.Exec(`UPDATE cluster_servers SET heartbeat_at = `+now+`, stopped_at = NULL WHERE id = ?`, append(nargs, id)...)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("touching server %s: %w", id, dbError(err))
	}
	if n == 0 {
		return fmt.Errorf("touching server %s: %w: it is not registered", id, ErrNotFound)
	}
	return nil
}

// StopServer sets stopped_at of server id to now.
func (r clusterRepo) StopServer(ctx context.Context, id string) error {
	now, nargs := r.now()
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		return tx.Exec(`UPDATE cluster_servers SET stopped_at = `+now+` WHERE id = ?`, append(nargs, id)...).Error
	})
	if err != nil {
		return fmt.Errorf("marking server %s stopped: %w", id, dbError(err))
	}
	return nil
}

// Servers returns every registered server.
func (r clusterRepo) Servers(ctx context.Context) ([]ServerRecord, error) {
	var rows []serverRow
	if err := r.s.read(ctx).Order("started_at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing cluster servers: %w", dbError(err))
	}
	out := make([]ServerRecord, len(rows))
	for i := range rows {
		out[i] = rows[i].toRecord()
	}
	return out, nil
}

// PruneServers deletes servers silent for longer than silentFor and the
// node sessions they held.
func (r clusterRepo) PruneServers(ctx context.Context, silentFor time.Duration) (int, error) {
	if silentFor <= 0 {
		return 0, fmt.Errorf("pruning cluster servers: %w: silence %s is not positive", ErrInvalid, silentFor)
	}
	before, bargs := r.plus(-silentFor)
	var n int64
	err := r.s.write(ctx, true, func(tx *gorm.DB) error {
		var ids []string
		q := `SELECT id FROM cluster_servers WHERE heartbeat_at < ` + before +
			` AND id <> (SELECT server_id FROM cluster_leader WHERE id = 1)`
		if err := tx.Raw(q, bargs...).Scan(&ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if err := tx.Exec(`DELETE FROM node_sessions WHERE server_id IN ?`, ids).Error; err != nil {
			return err
		}
		res := tx.Exec(`DELETE FROM cluster_servers WHERE id IN ?`, ids)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("pruning cluster servers: %w", dbError(err))
	}
	return int(n), nil
}

// Acquire takes or renews the lease in one conditional UPDATE.
func (r clusterRepo) Acquire(ctx context.Context, serverID string, epoch int64, ttl time.Duration) (Lease, bool, error) {
	if serverID == "" {
		return Lease{}, false, fmt.Errorf("acquiring the leader lease: %w: empty server id", ErrInvalid)
	}
	if ttl <= 0 {
		return Lease{}, false, fmt.Errorf("acquiring the leader lease: %w: ttl %s is not positive", ErrInvalid, ttl)
	}
	now, nargs := r.now()
	exp, eargs := r.plus(ttl)
	// renewing: serverID holds the lease at epoch and it is live.
	renewing := `(server_id = ? AND epoch = ? AND expires_at > ` + now + `)`
	rargs := append([]any{serverID, epoch}, nargs...)
	q := `UPDATE cluster_leader SET
			epoch = CASE WHEN ` + renewing + ` THEN epoch ELSE epoch + 1 END,
			acquired_at = CASE WHEN ` + renewing + ` THEN acquired_at ELSE ` + now + ` END,
			server_id = ?,
			expires_at = ` + exp + `
		WHERE id = 1 AND (expires_at <= ` + now + ` OR ` + renewing + `)
		RETURNING server_id, epoch, acquired_at, expires_at`
	var args []any
	args = append(args, rargs...)
	args = append(args, rargs...)
	args = append(args, nargs...)
	args = append(args, serverID)
	args = append(args, eargs...)
	args = append(args, nargs...)
	args = append(args, rargs...)
	var rows []leaseRow
	err := r.s.write(ctx, false, func(tx *gorm.DB) error { return tx.Raw(q, args...).Scan(&rows).Error })
	if err != nil {
		return Lease{}, false, fmt.Errorf("acquiring the leader lease: %w", dbError(err))
	}
	if len(rows) == 1 {
		return rows[0].toLease(), true, nil
	}
	l, err := r.Leader(ctx)
	if err != nil {
		return Lease{}, false, fmt.Errorf("acquiring the leader lease: %w", err)
	}
	return l, false, nil
}

// Release expires the lease now if serverID holds it at epoch.
func (r clusterRepo) Release(ctx context.Context, serverID string, epoch int64) error {
	now, nargs := r.now()
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		return tx.Exec(`UPDATE cluster_leader SET expires_at = `+now+` WHERE id = 1 AND server_id = ? AND epoch = ? AND expires_at > `+now,
			append(append(append([]any{}, nargs...), serverID, epoch), nargs...)...).Error
	})
	if err != nil {
		return fmt.Errorf("releasing the leader lease: %w", dbError(err))
	}
	return nil
}

// Leader returns the lease as stored.
func (r clusterRepo) Leader(ctx context.Context) (Lease, error) {
	var rows []leaseRow
	err := r.s.read(ctx).Raw(`SELECT server_id, epoch, acquired_at, expires_at FROM cluster_leader WHERE id = 1`).Scan(&rows).Error
	if err != nil {
		return Lease{}, fmt.Errorf("reading the leader lease: %w", dbError(err))
	}
	if len(rows) != 1 {
		return Lease{}, errors.New("reading the leader lease: the cluster_leader row is missing")
	}
	return rows[0].toLease(), nil
}

// ClaimNode records s, replacing any claim on the node.
func (r clusterRepo) ClaimNode(ctx context.Context, s NodeSession) error {
	if s.NodeID == "" || s.ServerID == "" || s.SessionID == "" {
		return fmt.Errorf("claiming node %q: %w: node, server and session ids are required", s.NodeID, ErrInvalid)
	}
	now, nargs := r.now()
	q := `INSERT INTO node_sessions (node_id, server_id, session_id, attached_at, heartbeat_at)
		VALUES (?, ?, ?, ` + now + `, ` + now + `)
		ON CONFLICT (node_id) DO UPDATE SET server_id = excluded.server_id, session_id = excluded.session_id,
			attached_at = excluded.attached_at, heartbeat_at = excluded.heartbeat_at`
	args := append(append([]any{s.NodeID, s.ServerID, s.SessionID}, nargs...), nargs...)
	err := r.s.write(ctx, false, func(tx *gorm.DB) error { return tx.Exec(q, args...).Error })
	if err != nil {
		return fmt.Errorf("claiming node %s for server %s: %w", s.NodeID, s.ServerID, dbError(err))
	}
	return nil
}

// ReleaseNode deletes node nodeID's claim if it is session sessionID's.
func (r clusterRepo) ReleaseNode(ctx context.Context, nodeID, sessionID string) error {
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		return tx.Exec(`DELETE FROM node_sessions WHERE node_id = ? AND session_id = ?`, nodeID, sessionID).Error
	})
	if err != nil {
		return fmt.Errorf("releasing node %s: %w", nodeID, dbError(err))
	}
	return nil
}

// TouchNodes sets the heartbeat of serverID's claims on nodeIDs to now.
func (r clusterRepo) TouchNodes(ctx context.Context, serverID string, nodeIDs []string) error {
	if len(nodeIDs) == 0 {
		return nil
	}
	now, nargs := r.now()
	err := r.s.write(ctx, false, func(tx *gorm.DB) error {
		return tx.Exec(`UPDATE node_sessions SET heartbeat_at = `+now+` WHERE server_id = ? AND node_id IN ?`,
			append(nargs, serverID, nodeIDs)...).Error
	})
	if err != nil {
		return fmt.Errorf("touching the nodes of server %s: %w", serverID, dbError(err))
	}
	return nil
}

// NodeHolder returns the claim on nodeID.
func (r clusterRepo) NodeHolder(ctx context.Context, nodeID string) (NodeSession, error) {
	var rows []nodeSessionRow
	if err := r.s.read(ctx).Where("node_id = ?", nodeID).Limit(1).Find(&rows).Error; err != nil {
		return NodeSession{}, fmt.Errorf("reading the holder of node %s: %w", nodeID, dbError(err))
	}
	if len(rows) == 0 {
		return NodeSession{}, fmt.Errorf("holder of node %s: %w", nodeID, ErrNotFound)
	}
	return rows[0].toSession(), nil
}

// NodeSessions returns every claim.
func (r clusterRepo) NodeSessions(ctx context.Context) ([]NodeSession, error) {
	var rows []nodeSessionRow
	if err := r.s.read(ctx).Order("node_id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("listing node sessions: %w", dbError(err))
	}
	out := make([]NodeSession, len(rows))
	for i := range rows {
		out[i] = rows[i].toSession()
	}
	return out, nil
}
