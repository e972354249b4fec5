package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"gorm.io/gorm"
)

// migration is one step of the schema, with its SQL written out for each
// dialect. Once released a migration never changes: a change to the schema
// is a new migration at the end of the list.
type migration struct {
	Version  int
	Name     string
	SQLite   []string
	Postgres []string
}

// statements returns the migration's SQL for dialect.
func (m migration) statements(dialect string) []string {
	if dialect == dialectPostgres {
		return m.Postgres
	}
	return m.SQLite
}

// migrations is the schema, oldest first. Versions count up from 1.
var migrations = []migration{
	{
		Version: 1,
		Name:    "nodes",
		SQLite: []string{
			`CREATE TABLE nodes (
				id             TEXT NOT NULL PRIMARY KEY,
				name           TEXT NOT NULL,
				state          TEXT NOT NULL,
				address        TEXT NOT NULL DEFAULT '',
				host           TEXT NOT NULL DEFAULT '{}',
				backend        TEXT NOT NULL DEFAULT '{}',
				last_heartbeat TEXT,
				created_at     TEXT NOT NULL,
				updated_at     TEXT NOT NULL
			)`,
			`CREATE UNIQUE INDEX nodes_name_key ON nodes (name)`,
		},
		Postgres: []string{
			`CREATE TABLE nodes (
				id             TEXT COLLATE "C" NOT NULL,
				name           TEXT COLLATE "C" NOT NULL,
				state          TEXT NOT NULL,
				address        TEXT NOT NULL DEFAULT '',
				host           JSONB NOT NULL DEFAULT '{}',
				backend        JSONB NOT NULL DEFAULT '{}',
				last_heartbeat TIMESTAMPTZ,
				created_at     TIMESTAMPTZ NOT NULL,
				updated_at     TIMESTAMPTZ NOT NULL,
				CONSTRAINT nodes_pkey PRIMARY KEY (id)
			)`,
			`CREATE UNIQUE INDEX nodes_name_key ON nodes (name)`,
		},
	},
	{
		Version: 2,
		Name:    "vms and labels",
		SQLite: []string{
			`CREATE TABLE vms (
				id               TEXT NOT NULL PRIMARY KEY,
				name             TEXT NOT NULL,
				description      TEXT NOT NULL DEFAULT '',
				origin           TEXT NOT NULL,
				is_managed       BOOLEAN NOT NULL,
				node_id          TEXT NOT NULL DEFAULT '',
				state            TEXT NOT NULL,
				last_known_state TEXT NOT NULL DEFAULT '',
				state_changed_at TEXT NOT NULL,
				desired_state    TEXT NOT NULL DEFAULT '',
				restart_policy   TEXT NOT NULL DEFAULT '',
				spec             TEXT NOT NULL,
				last_seen        TEXT,
				lost_reason      TEXT NOT NULL DEFAULT '',
				lost_at          TEXT,
				message          TEXT NOT NULL DEFAULT '',
				created_at       TEXT NOT NULL,
				updated_at       TEXT NOT NULL,
				version          INTEGER NOT NULL
			)`,
			// Managed VMs that are not TERMINATED have unique names;
			// host-discovered ones may share a name (different hosts).
			`CREATE UNIQUE INDEX vms_managed_name_key ON vms (name) WHERE is_managed AND state <> 'TERMINATED'`,
			`CREATE INDEX vms_created_at_id_idx ON vms (created_at, id)`,
			`CREATE INDEX vms_node_id_idx ON vms (node_id)`,
			`CREATE INDEX vms_state_idx ON vms (state)`,
			`CREATE TABLE vm_labels (
				vm_id TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
				key   TEXT NOT NULL,
				value TEXT NOT NULL,
				PRIMARY KEY (vm_id, key)
			)`,
			`CREATE INDEX vm_labels_key_value_idx ON vm_labels (key, value)`,
		},
		Postgres: []string{
			`CREATE TABLE vms (
				id               TEXT COLLATE "C" NOT NULL,
				name             TEXT NOT NULL,
				description      TEXT NOT NULL DEFAULT '',
				origin           TEXT NOT NULL,
				is_managed       BOOLEAN NOT NULL,
				node_id          TEXT COLLATE "C" NOT NULL DEFAULT '',
				state            TEXT NOT NULL,
				last_known_state TEXT NOT NULL DEFAULT '',
				state_changed_at TIMESTAMPTZ NOT NULL,
				desired_state    TEXT NOT NULL DEFAULT '',
				restart_policy   TEXT NOT NULL DEFAULT '',
				spec             JSONB NOT NULL,
				last_seen        TIMESTAMPTZ,
				lost_reason      TEXT NOT NULL DEFAULT '',
				lost_at          TIMESTAMPTZ,
				message          TEXT NOT NULL DEFAULT '',
				created_at       TIMESTAMPTZ NOT NULL,
				updated_at       TIMESTAMPTZ NOT NULL,
				version          BIGINT NOT NULL,
				CONSTRAINT vms_pkey PRIMARY KEY (id)
			)`,
			`CREATE UNIQUE INDEX vms_managed_name_key ON vms (name) WHERE is_managed AND state <> 'TERMINATED'`,
			`CREATE INDEX vms_created_at_id_idx ON vms (created_at, id)`,
			`CREATE INDEX vms_node_id_idx ON vms (node_id)`,
			`CREATE INDEX vms_state_idx ON vms (state)`,
			`CREATE TABLE vm_labels (
				vm_id TEXT COLLATE "C" NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
				key   TEXT NOT NULL,
				value TEXT NOT NULL,
				CONSTRAINT vm_labels_pkey PRIMARY KEY (vm_id, key)
			)`,
			`CREATE INDEX vm_labels_key_value_idx ON vm_labels (key, value)`,
		},
	},
	{
		Version: 3,
		Name:    "vm events",
		SQLite: []string{
			`CREATE TABLE vm_events (
				id        INTEGER PRIMARY KEY AUTOINCREMENT,
				vm_id     TEXT NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
				time      TEXT NOT NULL,
				action    TEXT NOT NULL DEFAULT '',
				old_state TEXT NOT NULL DEFAULT '',
				new_state TEXT NOT NULL DEFAULT '',
				cause     TEXT NOT NULL DEFAULT '',
				message   TEXT NOT NULL DEFAULT ''
			)`,
			`CREATE INDEX vm_events_vm_id_id_idx ON vm_events (vm_id, id)`,
		},
		Postgres: []string{
			`CREATE TABLE vm_events (
				id        BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
				vm_id     TEXT COLLATE "C" NOT NULL REFERENCES vms (id) ON DELETE CASCADE,
				time      TIMESTAMPTZ NOT NULL,
				action    TEXT NOT NULL DEFAULT '',
				old_state TEXT NOT NULL DEFAULT '',
				new_state TEXT NOT NULL DEFAULT '',
				cause     TEXT NOT NULL DEFAULT '',
				message   TEXT NOT NULL DEFAULT ''
			)`,
			`CREATE INDEX vm_events_vm_id_id_idx ON vm_events (vm_id, id)`,
		},
	},
	{
		Version: 4,
		Name:    "log entries",
		// Entries are listed newest first in (ts, seq) order, by themselves
		// or with one of the selective filters, each with an index that
		// serves that order (on SQLite every index ends with the rowid,
		// seq); level, component, user_action and text refine a scan of
		// one of them. seq is only a tiebreaker: the id (unique) is what
		// clients see. SQLite keeps ts as Unix microseconds, which makes
		// the keys short and inserts cheaper.
		SQLite: []string{
			`CREATE TABLE log_entries (
				seq            INTEGER PRIMARY KEY,
				id             TEXT NOT NULL,
				ts             INTEGER NOT NULL,
				level          TEXT NOT NULL,
				level_rank     INTEGER NOT NULL,
				source         TEXT NOT NULL,
				component      TEXT NOT NULL DEFAULT '',
				message        TEXT NOT NULL DEFAULT '',
				fields         TEXT,
				vm_id          TEXT NOT NULL DEFAULT '',
				node_id        TEXT NOT NULL DEFAULT '',
				user_id        TEXT NOT NULL DEFAULT '',
				session_id     TEXT NOT NULL DEFAULT '',
				correlation_id TEXT NOT NULL DEFAULT '',
				action         TEXT NOT NULL DEFAULT '',
				target         TEXT NOT NULL DEFAULT '',
				user_action    BOOLEAN NOT NULL DEFAULT FALSE
			)`,
			`CREATE UNIQUE INDEX log_entries_id_key ON log_entries (id)`,
			`CREATE INDEX log_entries_ts_idx ON log_entries (ts)`,
			`CREATE INDEX log_entries_vm_id_idx ON log_entries (vm_id, ts)`,
			`CREATE INDEX log_entries_node_id_idx ON log_entries (node_id, ts)`,
			`CREATE INDEX log_entries_source_idx ON log_entries (source, ts)`,
			`CREATE INDEX log_entries_session_id_idx ON log_entries (session_id, ts)`,
			`CREATE INDEX log_entries_correlation_id_idx ON log_entries (correlation_id, ts)`,
		},
		Postgres: []string{
			`CREATE TABLE log_entries (
				seq            BIGINT GENERATED ALWAYS AS IDENTITY,
				id             TEXT COLLATE "C" NOT NULL,
				ts             TIMESTAMPTZ NOT NULL,
				level          TEXT NOT NULL,
				level_rank     SMALLINT NOT NULL,
				source         TEXT COLLATE "C" NOT NULL,
				component      TEXT COLLATE "C" NOT NULL DEFAULT '',
				message        TEXT NOT NULL DEFAULT '',
				fields         TEXT,
				vm_id          TEXT COLLATE "C" NOT NULL DEFAULT '',
				node_id        TEXT COLLATE "C" NOT NULL DEFAULT '',
				user_id        TEXT NOT NULL DEFAULT '',
				session_id     TEXT COLLATE "C" NOT NULL DEFAULT '',
				correlation_id TEXT COLLATE "C" NOT NULL DEFAULT '',
				action         TEXT NOT NULL DEFAULT '',
				target         TEXT NOT NULL DEFAULT '',
				user_action    BOOLEAN NOT NULL DEFAULT FALSE,
				CONSTRAINT log_entries_pkey PRIMARY KEY (seq)
			)`,
			`CREATE UNIQUE INDEX log_entries_id_key ON log_entries (id)`,
			`CREATE INDEX log_entries_ts_idx ON log_entries (ts, seq)`,
			`CREATE INDEX log_entries_vm_id_idx ON log_entries (vm_id, ts, seq)`,
			`CREATE INDEX log_entries_node_id_idx ON log_entries (node_id, ts, seq)`,
			`CREATE INDEX log_entries_source_idx ON log_entries (source, ts, seq)`,
			`CREATE INDEX log_entries_session_id_idx ON log_entries (session_id, ts, seq)`,
			`CREATE INDEX log_entries_correlation_id_idx ON log_entries (correlation_id, ts, seq)`,
		},
	},
	{
		Version: 5,
		Name:    "node claimed address",
		// address is what the server sees the agent connect from;
		// claimed_address what the agent says it has.
		SQLite:   []string{`ALTER TABLE nodes ADD COLUMN claimed_address TEXT NOT NULL DEFAULT ''`},
		Postgres: []string{`ALTER TABLE nodes ADD COLUMN claimed_address TEXT NOT NULL DEFAULT ''`},
	},
	{
		Version: 6,
		Name:    "users, api tokens and sessions",
		// Only hashes of secrets are kept: password_hash is an argon2id
		// PHC string, api_tokens.hash the SHA-256 of a token's secret
		// (looked up by its visible prefix), sessions.hash the SHA-256 of
		// the cookie's secret and csrf_hash that of the CSRF token. A
		// user's tokens and sessions go with the user.
		SQLite: []string{
			`CREATE TABLE users (
				id            TEXT NOT NULL PRIMARY KEY,
				name          TEXT NOT NULL,
				role          TEXT NOT NULL,
				password_hash TEXT NOT NULL,
				created_at    TEXT NOT NULL,
				updated_at    TEXT NOT NULL
			)`,
			`CREATE UNIQUE INDEX users_name_key ON users (name)`,
			`CREATE TABLE api_tokens (
				id           TEXT NOT NULL PRIMARY KEY,
				prefix       TEXT NOT NULL,
				hash         BLOB NOT NULL,
				name         TEXT NOT NULL,
				role         TEXT NOT NULL,
				user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
				created_at   TEXT NOT NULL,
				expires_at   TEXT,
				last_used_at TEXT,
				revoked_at   TEXT
			)`,
			`CREATE UNIQUE INDEX api_tokens_prefix_key ON api_tokens (prefix)`,
			`CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id)`,
			`CREATE TABLE sessions (
				id         TEXT NOT NULL PRIMARY KEY,
				hash       BLOB NOT NULL,
				csrf_hash  BLOB NOT NULL,
				user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
				created_at TEXT NOT NULL,
				expires_at TEXT NOT NULL
			)`,
			`CREATE UNIQUE INDEX sessions_hash_key ON sessions (hash)`,
			`CREATE INDEX sessions_user_id_idx ON sessions (user_id)`,
			`CREATE INDEX sessions_expires_at_idx ON sessions (expires_at)`,
		},
		Postgres: []string{
			`CREATE TABLE users (
				id            TEXT COLLATE "C" NOT NULL,
				name          TEXT COLLATE "C" NOT NULL,
				role          TEXT NOT NULL,
				password_hash TEXT NOT NULL,
				created_at    TIMESTAMPTZ NOT NULL,
				updated_at    TIMESTAMPTZ NOT NULL,
				CONSTRAINT users_pkey PRIMARY KEY (id)
			)`,
			`CREATE UNIQUE INDEX users_name_key ON users (name)`,
			`CREATE TABLE api_tokens (
				id           TEXT COLLATE "C" NOT NULL,
				prefix       TEXT COLLATE "C" NOT NULL,
				hash         BYTEA NOT NULL,
				name         TEXT NOT NULL,
				role         TEXT NOT NULL,
				user_id      TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
				created_at   TIMESTAMPTZ NOT NULL,
				expires_at   TIMESTAMPTZ,
				last_used_at TIMESTAMPTZ,
				revoked_at   TIMESTAMPTZ,
				CONSTRAINT api_tokens_pkey PRIMARY KEY (id)
			)`,
			`CREATE UNIQUE INDEX api_tokens_prefix_key ON api_tokens (prefix)`,
			`CREATE INDEX api_tokens_user_id_idx ON api_tokens (user_id)`,
			`CREATE TABLE sessions (
				id         TEXT COLLATE "C" NOT NULL,
				hash       BYTEA NOT NULL,
				csrf_hash  BYTEA NOT NULL,
				user_id    TEXT COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
				created_at TIMESTAMPTZ NOT NULL,
				expires_at TIMESTAMPTZ NOT NULL,
				CONSTRAINT sessions_pkey PRIMARY KEY (id)
			)`,
			`CREATE UNIQUE INDEX sessions_hash_key ON sessions (hash)`,
			`CREATE INDEX sessions_user_id_idx ON sessions (user_id)`,
			`CREATE INDEX sessions_expires_at_idx ON sessions (expires_at)`,
		},
	},
	{
		Version: 7,
		Name:    "join tokens and node certificates",
		// join_tokens keeps only the SHA-256 of a token's secret; a use is
		// counted by one conditional UPDATE (used < max_uses), which the
		// CHECK backs. node_certs records every client certificate issued
		// to an agent, so that a node's certificates can be revoked.
		SQLite: []string{
			`CREATE TABLE join_tokens (
				id          TEXT NOT NULL PRIMARY KEY,
				secret_hash BLOB NOT NULL,
				description TEXT NOT NULL DEFAULT '',
				created_at  TEXT NOT NULL,
				expires_at  TEXT NOT NULL,
				max_uses    INTEGER NOT NULL,
				used        INTEGER NOT NULL DEFAULT 0,
				revoked_at  TEXT,
				CHECK (max_uses >= 1 AND used >= 0 AND used <= max_uses)
			)`,
			`CREATE INDEX join_tokens_created_at_idx ON join_tokens (created_at, id)`,
			`CREATE TABLE node_certs (
				serial     TEXT NOT NULL PRIMARY KEY,
				node_name  TEXT NOT NULL,
				issued_at  TEXT NOT NULL,
				not_after  TEXT NOT NULL,
				revoked_at TEXT
			)`,
			`CREATE INDEX node_certs_node_name_idx ON node_certs (node_name, issued_at)`,
		},
		Postgres: []string{
			`CREATE TABLE join_tokens (
				id          TEXT COLLATE "C" NOT NULL,
				secret_hash BYTEA NOT NULL,
				description TEXT NOT NULL DEFAULT '',
				created_at  TIMESTAMPTZ NOT NULL,
				expires_at  TIMESTAMPTZ NOT NULL,
				max_uses    INTEGER NOT NULL,
				used        INTEGER NOT NULL DEFAULT 0,
				revoked_at  TIMESTAMPTZ,
				CONSTRAINT join_tokens_pkey PRIMARY KEY (id),
				CONSTRAINT join_tokens_uses_check CHECK (max_uses >= 1 AND used >= 0 AND used <= max_uses)
			)`,
			`CREATE INDEX join_tokens_created_at_idx ON join_tokens (created_at, id)`,
			`CREATE TABLE node_certs (
				serial     TEXT COLLATE "C" NOT NULL,
				node_name  TEXT COLLATE "C" NOT NULL,
				issued_at  TIMESTAMPTZ NOT NULL,
				not_after  TIMESTAMPTZ NOT NULL,
				revoked_at TIMESTAMPTZ,
				CONSTRAINT node_certs_pkey PRIMARY KEY (serial)
			)`,
			`CREATE INDEX node_certs_node_name_idx ON node_certs (node_name, issued_at)`,
		},
	},
	{
		Version: 8,
		Name:    "cluster",
		// cluster_servers has a row per server process (a fresh id at each
		// start); cluster_leader the one leader lease, taken and renewed by
		// conditional UPDATEs whose epoch fences the leader's writes; it
		// starts free (epoch 0, expired). node_sessions says which server
		// holds each node's live agent session.
		SQLite: []string{
			`CREATE TABLE cluster_servers (
				id           TEXT NOT NULL PRIMARY KEY,
				name         TEXT NOT NULL DEFAULT '',
				api_addr     TEXT NOT NULL DEFAULT '',
				rpc_addr     TEXT NOT NULL DEFAULT '',
				version      TEXT NOT NULL DEFAULT '',
				started_at   TEXT NOT NULL,
				heartbeat_at TEXT NOT NULL,
				stopped_at   TEXT
			)`,
			`CREATE TABLE cluster_leader (
				id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
				server_id   TEXT NOT NULL DEFAULT '',
				epoch       INTEGER NOT NULL DEFAULT 0,
				acquired_at TEXT NOT NULL,
				expires_at  TEXT NOT NULL
			)`,
			`INSERT INTO cluster_leader (id, server_id, epoch, acquired_at, expires_at)
				VALUES (1, '', 0, '1970-01-01T00:00:00.000000Z', '1970-01-01T00:00:00.000000Z')`,
			`CREATE TABLE node_sessions (
				node_id      TEXT NOT NULL PRIMARY KEY,
				server_id    TEXT NOT NULL,
				session_id   TEXT NOT NULL,
				attached_at  TEXT NOT NULL,
				heartbeat_at TEXT NOT NULL
			)`,
			`CREATE INDEX node_sessions_server_id_idx ON node_sessions (server_id)`,
		},
		Postgres: []string{
			`CREATE TABLE cluster_servers (
				id           TEXT COLLATE "C" NOT NULL,
				name         TEXT NOT NULL DEFAULT '',
				api_addr     TEXT NOT NULL DEFAULT '',
				rpc_addr     TEXT NOT NULL DEFAULT '',
				version      TEXT NOT NULL DEFAULT '',
				started_at   TIMESTAMPTZ NOT NULL,
				heartbeat_at TIMESTAMPTZ NOT NULL,
				stopped_at   TIMESTAMPTZ,
				CONSTRAINT cluster_servers_pkey PRIMARY KEY (id)
			)`,
			`CREATE TABLE cluster_leader (
				id          INTEGER NOT NULL,
				server_id   TEXT COLLATE "C" NOT NULL DEFAULT '',
				epoch       BIGINT NOT NULL DEFAULT 0,
				acquired_at TIMESTAMPTZ NOT NULL,
				expires_at  TIMESTAMPTZ NOT NULL,
				CONSTRAINT cluster_leader_pkey PRIMARY KEY (id),
				CONSTRAINT cluster_leader_one_row CHECK (id = 1)
			)`,
			`INSERT INTO cluster_leader (id, server_id, epoch, acquired_at, expires_at)
				VALUES (1, '', 0, 'epoch', 'epoch')`,
			`CREATE TABLE node_sessions (
				node_id      TEXT COLLATE "C" NOT NULL,
				server_id    TEXT COLLATE "C" NOT NULL,
				session_id   TEXT COLLATE "C" NOT NULL,
				attached_at  TIMESTAMPTZ NOT NULL,
				heartbeat_at TIMESTAMPTZ NOT NULL,
				CONSTRAINT node_sessions_pkey PRIMARY KEY (node_id)
			)`,
			`CREATE INDEX node_sessions_server_id_idx ON node_sessions (server_id)`,
		},
	},
	{
		Version: 9,
		Name:    "cluster secret and CAs",
		// cluster_secret is one row: how the key that encrypts the CAs'
		// private keys is derived from server.cluster_secret (kdf,
		// kdf_params, salt) and a value sealed with that key, which a
		// server opens to tell that its secret is the cluster's.
		// cluster_cas holds each CA's certificate in clear and its private
		// key sealed with that key. Neither holds the secret.
		SQLite: []string{
			`CREATE TABLE cluster_secret (
				id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
				kdf         TEXT NOT NULL,
				kdf_params  TEXT NOT NULL,
				salt        BLOB NOT NULL,
				check_value BLOB NOT NULL,
				created_at  TEXT NOT NULL
			)`,
			`CREATE TABLE cluster_cas (
				name       TEXT NOT NULL PRIMARY KEY,
				cert_pem   TEXT NOT NULL,
				key_sealed BLOB NOT NULL,
				created_at TEXT NOT NULL
			)`,
		},
		Postgres: []string{
			`CREATE TABLE cluster_secret (
				id          INTEGER NOT NULL,
				kdf         TEXT NOT NULL,
				kdf_params  TEXT NOT NULL,
				salt        BYTEA NOT NULL,
				check_value BYTEA NOT NULL,
				created_at  TIMESTAMPTZ NOT NULL,
				CONSTRAINT cluster_secret_pkey PRIMARY KEY (id),
				CONSTRAINT cluster_secret_one_row CHECK (id = 1)
			)`,
			`CREATE TABLE cluster_cas (
				name       TEXT COLLATE "C" NOT NULL,
				cert_pem   TEXT NOT NULL,
				key_sealed BYTEA NOT NULL,
				created_at TIMESTAMPTZ NOT NULL,
				CONSTRAINT cluster_cas_pkey PRIMARY KEY (name)
			)`,
		},
	},
	{
		Version: 10,
		Name:    "vm observed_at",
		// observed_at is when the VM's host observed the status the record
		// holds, by the host's clock (NULL: not known); a change of the
		// same host observed before it is not applied.
		SQLite:   []string{`ALTER TABLE vms ADD COLUMN observed_at TEXT`},
		Postgres: []string{`ALTER TABLE vms ADD COLUMN observed_at TIMESTAMPTZ`},
	},
	{
		Version: 11,
		Name:    "vm_events action and cause indexes",
		// The newest events of one action or one cause (Latest, the
		// console's Events page) are read backwards from these indexes in
		// id order: without them a rare action or cause reads the whole
		// table backwards through its primary key to fill a page.
		SQLite: []string{
			`CREATE INDEX vm_events_action_id_idx ON vm_events (action, id)`,
			`CREATE INDEX vm_events_cause_id_idx ON vm_events (cause, id)`,
		},
		Postgres: []string{
			`CREATE INDEX vm_events_action_id_idx ON vm_events (action, id)`,
			`CREATE INDEX vm_events_cause_id_idx ON vm_events (cause, id)`,
		},
	},
	{
		Version: 12,
		Name:    "vm stats history",
		// One averaged point per VM per server.stats.history_step, t its
		// start in Unix seconds; rates per second, cpu_cores the cores the
		// VM used on average. A node's series is the sum of its VMs' at t.
		SQLite: []string{
			`CREATE TABLE vm_stats (
				vm_id       TEXT NOT NULL,
				node_id     TEXT NOT NULL,
				t           INTEGER NOT NULL,
				vcpus       INTEGER NOT NULL,
				cpu_cores   REAL NOT NULL,
				mem_bytes   INTEGER NOT NULL,
				rss_bytes   INTEGER NOT NULL,
				disk_rd_bps REAL NOT NULL,
				disk_wr_bps REAL NOT NULL,
				disk_rd_ops REAL NOT NULL,
				disk_wr_ops REAL NOT NULL,
				net_rx_bps  REAL NOT NULL,
				net_tx_bps  REAL NOT NULL,
				net_rx_pps  REAL NOT NULL,
				net_tx_pps  REAL NOT NULL,
				PRIMARY KEY (vm_id, t)
			)`,
			`CREATE INDEX vm_stats_node_t ON vm_stats (node_id, t)`,
			`CREATE INDEX vm_stats_t ON vm_stats (t)`,
		},
		Postgres: []string{
			`CREATE TABLE vm_stats (
				vm_id       TEXT COLLATE "C" NOT NULL,
				node_id     TEXT COLLATE "C" NOT NULL,
				t           BIGINT NOT NULL,
				vcpus       BIGINT NOT NULL,
				cpu_cores   DOUBLE PRECISION NOT NULL,
				mem_bytes   BIGINT NOT NULL,
				rss_bytes   BIGINT NOT NULL,
				disk_rd_bps DOUBLE PRECISION NOT NULL,
				disk_wr_bps DOUBLE PRECISION NOT NULL,
				disk_rd_ops DOUBLE PRECISION NOT NULL,
				disk_wr_ops DOUBLE PRECISION NOT NULL,
				net_rx_bps  DOUBLE PRECISION NOT NULL,
				net_tx_bps  DOUBLE PRECISION NOT NULL,
				net_rx_pps  DOUBLE PRECISION NOT NULL,
				net_tx_pps  DOUBLE PRECISION NOT NULL,
				PRIMARY KEY (vm_id, t)
			)`,
			`CREATE INDEX vm_stats_node_t ON vm_stats (node_id, t)`,
			`CREATE INDEX vm_stats_t ON vm_stats (t)`,
		},
	},
	{
		Version: 13,
		Name:    "vms node and state index",
		// The counts of VMs per node and state (the inventory metrics,
		// CountByNodeState) and per node (CountByNode) are read from
		// this index alone, in its order, instead of scanning the VM table
		// and sorting. It replaces vms_node_id_idx, whose lookups it
		// serves as well.
		SQLite: []string{
			`CREATE INDEX vms_node_id_state_idx ON vms (node_id, state)`,
			`DROP INDEX vms_node_id_idx`,
		},
		Postgres: []string{
			`CREATE INDEX vms_node_id_state_idx ON vms (node_id, state)`,
			`DROP INDEX vms_node_id_idx`,
		},
	},
	{
		Version: 14,
		Name:    "node_certs enrollment",
		// What a retry of an enrollment whose reply was lost is checked
		// against: the join token the certificate was issued for (its id,
		// "static" for server.join_token, '' for a renewal), the SHA-256
		// of its public key, and the certificate to send again.
		SQLite: []string{
			`ALTER TABLE node_certs ADD COLUMN join_token TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE node_certs ADD COLUMN public_key_sha256 TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE node_certs ADD COLUMN cert_der BLOB`,
		},
		Postgres: []string{
			`ALTER TABLE node_certs ADD COLUMN join_token TEXT COLLATE "C" NOT NULL DEFAULT ''`,
			`ALTER TABLE node_certs ADD COLUMN public_key_sha256 TEXT COLLATE "C" NOT NULL DEFAULT ''`,
			`ALTER TABLE node_certs ADD COLUMN cert_der BYTEA`,
		},
	},
	{
		Version: 15,
		Name:    "node events",
		// The changes of nodes published on the event stream (kind node),
		// one row per event in the whole cluster, written by the server
		// that published it. stream_vm_event and stream_seq are the
		// event's stream position as the publishing server knew it (the
		// last VM event id published before it, and its number among
		// memory-only events; 0 when not known): with id they place a
		// node event among the VM events. Listed newest first per node
		// and for every node, through these indexes.
		SQLite: []string{
			`CREATE TABLE node_events (
				id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
				node_id         TEXT NOT NULL,
				node_name       TEXT NOT NULL DEFAULT '',
				time            TEXT NOT NULL,
				action          TEXT NOT NULL,
				old_state       TEXT NOT NULL DEFAULT '',
				new_state       TEXT NOT NULL DEFAULT '',
				healthy         INTEGER NOT NULL DEFAULT 0,
				message         TEXT NOT NULL DEFAULT '',
				stream_vm_event INTEGER NOT NULL DEFAULT 0,
				stream_seq      INTEGER NOT NULL DEFAULT 0
			)`,
			`CREATE INDEX node_events_node_id_id_idx ON node_events (node_id, id)`,
			`CREATE INDEX node_events_time_idx ON node_events (time)`,
		},
		Postgres: []string{
			`CREATE TABLE node_events (
				id              BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
				node_id         TEXT COLLATE "C" NOT NULL,
				node_name       TEXT COLLATE "C" NOT NULL DEFAULT '',
				time            TIMESTAMPTZ NOT NULL,
				action          TEXT NOT NULL,
				old_state       TEXT NOT NULL DEFAULT '',
				new_state       TEXT NOT NULL DEFAULT '',
				healthy         BOOLEAN NOT NULL DEFAULT FALSE,
				message         TEXT NOT NULL DEFAULT '',
				stream_vm_event BIGINT NOT NULL DEFAULT 0,
				stream_seq      BIGINT NOT NULL DEFAULT 0
			)`,
			`CREATE INDEX node_events_node_id_id_idx ON node_events (node_id, id)`,
			`CREATE INDEX node_events_time_idx ON node_events (time)`,
		},
	},
	{
		Version: 16,
		Name:    "stream notes",
		// The positioned notifications of a cluster's event stream (node
		// changes, removals of unmanaged VMs' records): each stored in the
		// transaction that sends it, with its number and the last VM
		// event committed before it, so that a server that missed some,
		// or a client resuming from a position older than a server's
		// memory, reads them back in order among the VM events. Written on
		// PostgreSQL only; the table exists on SQLite so that both
		// schemas are one.
		SQLite: []string{
			`CREATE TABLE stream_notes (
				n             INTEGER NOT NULL PRIMARY KEY,
				last_vm_event INTEGER NOT NULL,
				prefix        TEXT NOT NULL,
				payload       TEXT NOT NULL
			)`,
			`CREATE INDEX stream_notes_last_vm_event_n_idx ON stream_notes (last_vm_event, n)`,
		},
		Postgres: []string{
			`CREATE TABLE stream_notes (
				n             BIGINT NOT NULL PRIMARY KEY,
				last_vm_event BIGINT NOT NULL,
				prefix        TEXT COLLATE "C" NOT NULL,
				payload       TEXT NOT NULL
			)`,
			`CREATE INDEX stream_notes_last_vm_event_n_idx ON stream_notes (last_vm_event, n)`,
		},
	},
}

// schemaMigrationsDDL creates the table that records applied migrations.
var schemaMigrationsDDL = map[string]string{
	dialectSQLite: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TEXT NOT NULL
	)`,
	dialectPostgres: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at TIMESTAMPTZ NOT NULL
	)`,
}

// migrationLockKey is the PostgreSQL advisory lock that serialises
// migrations of one database between processes ("quantix" in ASCII).
const migrationLockKey int64 = 0x7175616e746978

// schemaMigration is a row of schema_migrations.
type schemaMigration struct {
	Version   int    `gorm:"column:version;primaryKey"`
	Name      string `gorm:"column:name"`
	AppliedAt dbTime `gorm:"column:applied_at"`
}

// TableName is the table of schemaMigration.
func (schemaMigration) TableName() string { return "schema_migrations" }

// checkMigrations verifies that list counts up from version 1 and that every
// migration has SQL for both dialects.
func checkMigrations(list []migration) error {
	for i, m := range list {
		if m.Version != i+1 {
			return fmt.Errorf("migration %q has version %d, want %d", m.Name, m.Version, i+1)
		}
		if len(m.SQLite) == 0 || len(m.Postgres) == 0 {
			return fmt.Errorf("migration %d (%s) lacks SQL for a dialect", m.Version, m.Name)
		}
	}
	return nil
}

// migrate brings the schema of db up to the last of list, applying each
// pending migration in its own transaction together with its
// schema_migrations row. On PostgreSQL each transaction first takes an
// advisory lock, on SQLite the writer's transactions begin IMMEDIATE, so
// processes opening the same database at once apply each migration once.
// A database that recorded a version past the end of list is refused with a
// *SchemaTooNewError.
func migrate(ctx context.Context, db *gorm.DB, dialect string, list []migration, log hclog.Logger) error {
	if err := checkMigrations(list); err != nil {
		return err
	}
	supported := 0
	if len(list) > 0 {
		supported = list[len(list)-1].Version
	}
	for {
		var applied *migration
		err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if dialect == dialectPostgres {
				if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockKey).Error; err != nil {
					return fmt.Errorf("taking the migration lock: %w", err)
				}
			}
			if err := tx.Exec(schemaMigrationsDDL[dialect]).Error; err != nil {
				return fmt.Errorf("creating schema_migrations: %w", err)
			}
			var versions []int
			if err := tx.Model(&schemaMigration{}).Order("version").Pluck("version", &versions).Error; err != nil {
				return fmt.Errorf("reading schema_migrations: %w", err)
			}
			if n := len(versions); n > 0 && versions[n-1] > supported {
				return &SchemaTooNewError{Database: versions[n-1], Supported: supported}
			}
			done := make(map[int]bool, len(versions))
			for _, v := range versions {
				done[v] = true
			}
			for i := range list {
				if !done[list[i].Version] {
					applied = &list[i]
					break
				}
			}
			if applied == nil {
				return nil
			}
			for j, stmt := range applied.statements(dialect) {
				if err := tx.Exec(stmt).Error; err != nil {
					return fmt.Errorf("applying migration %d (%s), statement %d: %w", applied.Version, applied.Name, j+1, err)
				}
			}
			rec := schemaMigration{Version: applied.Version, Name: applied.Name, AppliedAt: dbTime(time.Now())}
			if err := tx.Create(&rec).Error; err != nil {
				return fmt.Errorf("recording migration %d (%s): %w", applied.Version, applied.Name, err)
			}
			return nil
		})
		if err != nil {
			var tooNew *SchemaTooNewError
			if errors.As(err, &tooNew) {
				return err
			}
			return fmt.Errorf("migrating the schema: %w", err)
		}
		if applied == nil {
			return nil
		}
		log.Info("applied database migration", "version", applied.Version, "name", applied.Name)
	}
}
