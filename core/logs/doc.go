// Package logs is Quantix's log pipeline (docs/logs.md): every entry of every
// source (UI actions from POST /api/logs/ui, an audit entry per mutating
// API call, the daemon's own hclog output, QEMU log lines) goes through it
// to the built-in store behind GET /api/logs and to every log sink plugin
// whose sources match, without being lost.
//
// Durability. Pipeline.Append writes entries to a spool (Spool) of
// append-only segment files under <data_dir>/logs/spool and returns only
// once they are written and fsynced; appends arriving while a sync runs are
// written and synced together (group commit), so many concurrent writers
// cost few fsyncs. A record carries a CRC-32C and its sequence number; on
// open, what a crash tore at the end of the last segment is cut off (it was
// never acknowledged), while damaged records that good ones follow (the disk
// changed what was written) are skipped, logged at error level and counted,
// and the records after them kept. Segments are sealed at a size and removed
// once every consumer is done with them.
//
// Delivery. Each destination is a consumer with a cursor in the spool
// (persisted within CursorSyncInterval): it reads a batch (by count, bytes
// and time), writes it, retries the entries its destination answered
// retryable with exponential backoff until they are delivered, drops and
// counts those refused for good, and only then moves its cursor: at least
// once, in order. A sink that is down delays its entries and holds back
// nothing else. Retention bounds of the spool (MaxBytes, MaxAge) and damage
// on the disk are the only ways an undelivered entry is lost: each is logged
// at error level and counted per source and sink.
//
// The built-in store is a consumer too (store.LogRepo, idempotent by entry
// id), pruned by age and count (Retention). Live subscribers
// (GET /api/logs/stream) see appended entries matching their filter through
// a bounded buffer: a slow one loses entries and is told how many, and the
// pipeline never waits for it.
//
// Metrics (Prometheus): quantix_logs_accepted_total{source},
// quantix_logs_rejected_total{source,reason},
// quantix_logs_delivered_total{source,sink},
// quantix_logs_retried_total{source,sink},
// quantix_logs_dropped_total{source,sink,reason},
// quantix_logs_spool_evictions_total{reason},
// quantix_logs_spool_damaged_records_total, and the spool's size, segment
// count, group commits and per-sink lag.
package logs
