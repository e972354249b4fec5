// Package agent is the Quantix node agent: it drives one host through a
// backend (the supervised backend plugin in production), keeps a view of
// every VM on the host true to the backend's lifecycle events and to
// periodic listings, and pushes that view to the control plane over the
// agent protocol (proto/quantix/agent/v1), whose commands it runs.
//
// The agent dials the servers of its configuration in turn over TLS. On its
// first connection it enrolls: it makes its own key and a certificate
// request for its node name, presents the join token and keeps the client
// certificate it gets, with the cluster's agent CA, in Config.CertDir; it
// trusts the server by the CA fingerprint the join token carries (or
// agent.ca_fingerprint, agent.ca_cert). From then on it connects with that
// certificate only, registers its node (the certificate's) and keeps one
// Session stream open per session, over which it renews the certificate
// once two thirds of its validity have passed.
// Reports travel up it: a change notification at once for each event, a full
// sync after a random jitter on every (re)connect and whenever the backend's
// event stream broke, the backend asked for a resync, the plugin was
// relaunched or a periodic listing found the view wrong, and a heartbeat
// with the state hash of the view, which the server answers by asking for a
// full sync when its own view differs. While disconnected the agent keeps
// only the latest state of each VM; the full sync after reconnecting
// replaces whatever changed meanwhile.
//
// When the backend reads VM logs and the server takes them, the agent also
// follows the hypervisor log (the QEMU log on libvirt) of every VM that
// runs, and of each for a few seconds after it stopped, through the
// backend's StreamLog, and sends the lines up in batches that the server
// acknowledges once they are durable in its log pipeline. The lines read
// wait in a bounded queue (a full queue holds the readers back, which
// resume from their offset); those not acknowledged when a session ends are
// sent again by the next one. How far each VM's log was acknowledged is
// kept in Config.StateDir, so that a restarted agent carries on from there;
// a log the agent knows nothing of is sent from its start, except that of a
// VM created through the agent, sent from where the log ended at its
// creation. Delivery is at least once: the server gives a line the same
// entry id each time it is sent.
package agent
