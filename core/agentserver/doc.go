// Package agentserver is the control plane's end of the agent protocol
// (proto/quantix/agent/v1): the gRPC service node agents dial.
//
// A Server speaks TLS only, with a certificate of the cluster's agent CA.
// It enrolls agents that present a join token (Enroll: their certificate
// request is signed for the node name they ask, unless that node already
// has an active certificate), knows every other call's agent by its client
// certificate, which must not be revoked, renews certificates over the
// session (Renew), registers their nodes
// through a nodeapi.ReportHandler, keeps one session per node (a newer
// registration supersedes the older session; three missed heartbeats end
// one) and applies each session's reports in order, dropping those of
// superseded sessions and those not newer than the last applied. While a
// session is attached it is its node's nodeapi.Executor in the Dispatcher,
// which is the Executor the control plane sends commands through: commands
// travel down the session's stream and the agent's replies come back with
// the backend's error kinds. The VM log lines agents send are appended to a
// LogAppender (the log pipeline) and acknowledged once durable.
//
// On a server of a cluster (Dispatcher.EnableCluster: several servers on
// one PostgreSQL database) a node still has one session in the whole
// cluster: a session that attaches is claimed in the cluster's records
// (node_sessions) and the server that held the node before is told, over
// the cluster service (proto/quantix/cluster/v1) on its agent port, to
// close its own; every second each server reads the records, closing its
// sessions that another server claimed. The Dispatcher forwards a command
// for a node whose session another live server holds to that server's
// cluster service, over mTLS with a server peer certificate of the agent
// CA (core/pki), which only servers present and the cluster service alone
// accepts; results and error kinds come back as from a local session.
//
// The package depends on the control plane only through the interfaces of
// core/nodeapi; the daemon wires them:
//
//	disp := agentserver.NewDispatcher()
//	svc, _ := controlplane.New(controlplane.Options{Store: st, Executor: disp})
//	srv, _ := agentserver.New(agentserver.Options{Handler: svc.Reconciler(), Dispatcher: disp,
//		CA: ca, Certificate: cert, Enrollment: enrollSvc, Logs: pipeline})
//	go srv.Serve(ln)
//	defer srv.Close(ctx)
package agentserver
