// Package agent is the Quantix node agent: it drives one host through a
// backend (the supervised backend plugin in production), keeps a view of
// every VM on the host true to the backend's lifecycle events and to
// periodic listings, and pushes that view to the control plane over the
// agent protocol (proto/quantix/agent/v1), whose commands it runs.
//
// The agent dials the servers of its configuration in turn, registers its
// node with the join token and keeps one Session stream open per session.
// Reports travel up it: a change notification at once for each event, a full
// sync after a random jitter on every (re)connect and whenever the backend's
// event stream broke, the backend asked for a resync, the plugin was
// relaunched or a periodic listing found the view wrong, and a heartbeat
// with the state hash of the view, which the server answers by asking for a
// full sync when its own view differs. While disconnected the agent keeps
// only the latest state of each VM; the full sync after reconnecting
// replaces whatever changed meanwhile.
package agent
