// Package api is the Quantix REST API (docs/api.md) on echo: the VM, node and
// health routes, JSON in snake_case, errors as {"code", "message"}.
//
// Bodies are decoded by one decoder (decodeJSON): keys match field names
// exactly, case included. GET routes answer HEAD too, without the body.
// What a reply or a log repeats of the request (a path, an id, a name, a
// parameter) is cut to a few hundred bytes with its length.
//
// Status codes: 400 a malformed body (bad JSON, an unknown field, a body
// that is not an object) or query parameter, naming it; 404 an unknown VM,
// node or route; 405 a method a route does not take; 409 a duplicate name,
// a refused transition (the message names the state) or a concurrent
// change; 413 a body over 1 MiB; 422 a field with a value the model does
// not accept, the message starting with the field ("vcpus: must be at least
// 1"); 501 an operation the node's backend does not implement; 502 the
// node's backend failed; 503 the VM's node cannot be reached; 500 a fault
// of the daemon (the message gives the request id to look for in its log).
//
// Power actions, reset_state and delete reply {"success": true, "message",
// "vm"} with the VM afterwards; when they fail, the reply has the status
// code of the failure and {"success": false, "code", "message", "vm"}, where
// "vm" is the VM as the failure left it (omitted when there is no VM, as for
// 404).
//
// POST /api/vms/{id}/adopt makes a host-discovered VM managed (origin
// imported); every other action and every edit of an unmanaged VM is 409,
// "vm x is not managed by quantix (origin host-discovered); adopt it
// first". GET /api/vms/{id}/events pages a VM's history (cursor, limit).
// GET /api/events is a stream of server-sent events ("vm", "node" and
// "gap"), resumable with since or Last-Event-ID, with keep-alive comments.
//
// Logs (docs/logs.md): GET /api/logs queries the built-in store (filters
// level as a minimum, source, component, vm_id, node_id, correlation_id,
// session_id, user_action, q of at most 1,000 characters, since, until;
// limit, cursor, order) and replies {logs, next_cursor, has_more};
// /api/logs/sources and /api/logs/components list the known values.
// POST /api/logs/ui takes {"logs": [...]} in the seed front end's shape
// (camelCase aliases accepted; timestamps within 10 years of now; fields at
// most 32 levels deep and 16 KiB), keeps the good entries when others are
// bad and replies {accepted, rejected, errors: [{index, reason}]}: 200 when
// anything was accepted, 422 when every entry was rejected, 413 over 1000
// entries or 1 MiB, 429 with Retry-After when the caller's credential, or
// the client address over all its credentials, is over its rate, 503 when the
// spool cannot take entries. GET /api/logs/export streams json, csv or txt
// (txt with control characters escaped); GET /api/logs/stream is
// server-sent events ("log" and "gap"). Every mutating route is audited:
// its reply is released only once its audit entry is durable. GET /metrics
// serves Prometheus metrics.
//
// Authentication (access.go, docs/api.md): every route but GET /api/health
// and POST /api/auth/login needs a bearer token or the session cookie (with
// its CSRF header for changes), and a role allowing the route's action; 401
// {"code":"unauthenticated"}, 403 {"code":"forbidden"} naming the role needed
// and the caller's, 429 {"code":"too_many_requests"} with Retry-After for
// throttled logins. /api/auth/* log in and out, /api/users and /api/tokens
// are for admins. Open streams end when their credential stops working.
//
// Every reply carries X-Request-Id: the request's own when it sent a usable
// one, else a new one. Panics become a JSON 500; every request is logged
// through hclog.
package api
