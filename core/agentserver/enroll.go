package agentserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/quantixvm/quantix/core/pki"
	agentv1 "github.com/quantixvm/quantix/proto/quantix/agent/v1"
	"github.com/quantixvm/quantix/sdk/backend"
)

// DefaultClientCertTTL is how long a node's client certificate is valid
// when Options.ClientCertTTL is zero. Agents renew theirs over the session
// once two thirds of it have passed.
const DefaultClientCertTTL = 30 * 24 * time.Hour

// Enrollment is what the server needs of the records of join tokens and
// node certificates (core/enroll.Service implements it). Serial numbers
// are the certificates' serial numbers in lowercase hex.
type Enrollment interface {
	// Redeem accepts a join token (a token made by the server or the static
	// server.join_token) and counts one use of it; the error of a token
	// refused (wrong, expired, used up, revoked) says what to do.
	Redeem(ctx context.Context, token string) error
	// RecordCert records the certificate serial as node's current one,
	// valid until notAfter (a renewal's).
	RecordCert(ctx context.Context, node, serial string, notAfter time.Time) error
	// RecordEnrollment records cert as node's current one, issued because
	// node enrolled with join token (which Redeem took), keeping what
	// Reenrollment checks a retry against.
	RecordEnrollment(ctx context.Context, node string, cert *x509.Certificate, token string) error
	// Reenrollment returns node's current certificate (DER) when a retry
	// of its enrollment, whose reply was lost, may have it again: it was
	// issued by an enrollment with token for the public key pubKey (DER
	// SubjectPublicKeyInfo of a request whose signature was checked), and
	// token is neither revoked nor expired (used up is fine: no use is
	// counted). ok is false for anything else.
	Reenrollment(ctx context.Context, node, token string, pubKey []byte) (der []byte, ok bool, err error)
	// ActiveCert returns the serial of node's current certificate when it
	// has one that is neither revoked nor expired.
	ActiveCert(ctx context.Context, node string) (serial string, ok bool, err error)
	// Revoked reports whether certificate serial was revoked.
	Revoked(ctx context.Context, serial string) (bool, error)
}

// SerialHex is how the server names a certificate to its Enrollment.
func SerialHex(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

// identity is who a call's client certificate says the caller is: a
// node's agent, or (server set) another server of the cluster.
type identity struct {
	node   string
	serial string
	// server is the id a server peer certificate names; empty for a node.
	server string
}

type identityKey struct{}

func identityFrom(ctx context.Context) (identity, bool) {
	id, ok := ctx.Value(identityKey{}).(identity)
	return id, ok
}

// tlsIdentity is the identity of the client certificate of the call's TLS
// connection, verified against the agent CA during the handshake.
func tlsIdentity(ctx context.Context) (identity, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return identity{}, false
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 || len(ti.State.VerifiedChains[0]) == 0 {
		return identity{}, false
	}
	leaf := ti.State.VerifiedChains[0][0]
	if pki.IsServerMarked(leaf) {
		// Never a node's: a server's, when well formed.
		id, ok := pki.ServerPeerID(leaf)
		return identity{server: id, serial: SerialHex(leaf)}, ok
	}
	return identity{node: leaf.Subject.CommonName, serial: SerialHex(leaf)}, true
}

// enrollMethod is the only call taken without a client certificate.
const enrollMethod = "/quantix.agent.v1.AgentService/Enroll"

// authenticate returns ctx with the identity of the call's client
// certificate, verified against the agent CA during the handshake. Enroll
// needs none; every other call needs one that is not revoked.
func (s *Server) authenticate(ctx context.Context, method string) (context.Context, error) {
	if method == enrollMethod {
		return ctx, nil
	}
	from := peerAddr(ctx)
	id, ok := s.identify(ctx)
	if isClusterMethod(method) {
		// Only servers of the cluster call the cluster service.
		switch {
		case !ok:
			s.log.Warn("cluster call refused: no client certificate", "peer", from, "call", method)
			return nil, status.Error(codes.Unauthenticated, "no client certificate: the cluster service takes the peer certificates of the cluster's servers only")
		case id.server == "":
			s.log.Warn("cluster call refused: the certificate is a node's, not a server's", "peer", from, "call", method, "node", id.node)
			return nil, status.Errorf(codes.PermissionDenied, "the certificate of node %q cannot call the cluster service: only the cluster's servers may", id.node)
		}
		return context.WithValue(ctx, identityKey{}, id), nil
	}
	if ok && id.server != "" {
		s.log.Warn("agent call refused: the certificate is a server's, not a node's", "peer", from, "call", method, "server", id.server)
		return nil, status.Errorf(codes.PermissionDenied, "the peer certificate of server %s is not a node's: agents use the certificate they enrolled for", id.server)
	}
	if !ok {
		s.log.Warn("agent refused: no client certificate", "peer", from, "call", method)
		return nil, status.Error(codes.Unauthenticated, "no client certificate: this agent has not enrolled; set agent.join_token to a join token (quantix node token create) so that it enrolls")
	}
	revoked, err := s.enroll.Revoked(ctx, id.serial)
	if err != nil {
		s.log.Error("checking a node certificate failed", "node", id.node, "serial", id.serial, "error", err)
		return nil, status.Errorf(codes.Unavailable, "checking the certificate of node %q: %v", id.node, err)
	}
	if revoked {
		s.log.Warn("agent refused: its certificate is revoked", "peer", from, "node", id.node, "serial", id.serial)
		return nil, status.Errorf(codes.Unauthenticated, "the certificate of node %q is revoked (the node was removed): remove the agent's node.crt and node.key under <data_dir>/agent and enroll again with a new join token", id.node)
	}
	return context.WithValue(ctx, identityKey{}, id), nil
}

// Enroll issues a client certificate for the node named in the request.
// The enrollments of one node name are serialised, so that two hosts
// claiming one name never both get a certificate; those of different names
// run at once (a fleet enrolling together waits for no one's database round
// trips but its own). A retry of an enrollment whose reply was lost
// (same token, a request for the same key) gets the certificate issued
// again and counts no use of the token.
func (s *Server) Enroll(ctx context.Context, req *agentv1.EnrollRequest) (*agentv1.EnrollResponse, error) {
	from := peerAddr(ctx)
	name := req.GetNodeName()
	if strings.TrimSpace(name) == "" {
		return nil, status.Error(codes.InvalidArgument, "node_name is empty: set agent.node_name")
	}
	if err := backend.ValidateName("node_name", name); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v: set agent.node_name to a valid name", err)
	}
	if req.GetJoinToken() == "" {
		s.log.Warn("enrollment refused: no join token", "peer", from, "node", name)
		return nil, status.Error(codes.Unauthenticated, "no join token: set agent.join_token to a token from `quantix node token create` (or to the server's server.join_token)")
	}
	defer s.enrolling.lock(name)()
	// The name is checked before the token is redeemed, so that a host
	// claiming a taken name (a copy of another host's configuration, say)
	// uses up none of the token's uses, however often it retries. That
	// tells a caller whether a node name has a certificate, which is no
	// secret: node names are in every listing.
	serial, ok, err := s.enroll.ActiveCert(ctx, name)
	if err != nil {
		s.log.Error("looking up a node's certificate failed", "node", name, "error", err)
		return nil, status.Errorf(codes.Unavailable, "looking up the certificate of node %q: %v", name, err)
	}
	if ok {
		// A retry of the enrollment that issued it (its reply lost) gets it
		// again: the request proves possession of the certificate's key, so
		// it gives the caller nothing it does not hold. Any other claim is
		// refused.
		if resp, err := s.reenroll(ctx, name, req); err != nil || resp != nil {
			if err == nil {
				s.log.Info("node enrollment retried: its certificate was sent again", "peer", from, "node", name, "serial", serial)
			}
			return resp, err
		}
		s.log.Warn("enrollment refused: the node already has a certificate", "peer", from, "node", name, "serial", serial)
		return nil, status.Errorf(codes.AlreadyExists, "node %s already has a certificate; remove it with quantix node remove %s", name, name)
	}
	if err := s.enroll.Redeem(ctx, req.GetJoinToken()); err != nil {
		s.log.Warn("enrollment refused: join token not accepted", "peer", from, "node", name, "error", err)
		return nil, status.Errorf(codes.Unauthenticated, "join token refused: %v", err)
	}
	resp, err := s.issue(ctx, name, req.GetCsr(), func(cert *x509.Certificate) error {
		return s.enroll.RecordEnrollment(ctx, name, cert, req.GetJoinToken())
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("node enrolled", "peer", from, "node", name)
	return resp, nil
}

// reenroll answers a retry of node's enrollment with the certificate that
// enrollment issued, or returns nil when req is not such a retry.
func (s *Server) reenroll(ctx context.Context, node string, req *agentv1.EnrollRequest) (*agentv1.EnrollResponse, error) {
	csr, err := x509.ParseCertificateRequest(req.GetCsr())
	if err != nil || csr.CheckSignature() != nil {
		return nil, nil
	}
	der, ok, err := s.enroll.Reenrollment(ctx, node, req.GetJoinToken(), csr.RawSubjectPublicKeyInfo)
	if err != nil {
		s.log.Error("looking up a node's enrollment failed", "node", node, "error", err)
		return nil, status.Errorf(codes.Unavailable, "looking up the enrollment of node %q: %v", node, err)
	}
	if !ok {
		return nil, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "parsing the certificate of node %q as recorded: %v", node, err)
	}
	return s.response(cert), nil
}

// Renew issues a new certificate for the calling node's new key.
func (s *Server) Renew(ctx context.Context, req *agentv1.RenewRequest) (*agentv1.EnrollResponse, error) {
	id, ok := identityFrom(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no client certificate")
	}
	resp, err := s.issue(ctx, id.node, req.GetCsr(), func(cert *x509.Certificate) error {
		return s.enroll.RecordCert(ctx, id.node, SerialHex(cert), cert.NotAfter)
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("node certificate renewed", "node", id.node, "old_serial", id.serial)
	return resp, nil
}

// issue signs csr for node and records the certificate with record.
func (s *Server) issue(ctx context.Context, node string, csr []byte, record func(*x509.Certificate) error) (*agentv1.EnrollResponse, error) {
	der, err := s.ca.SignClientCSR(csr, node, s.certTTL)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "certificate request: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "parsing the certificate issued: %v", err)
	}
	if err := record(cert); err != nil {
		s.log.Error("recording a node certificate failed", "node", node, "error", err)
		return nil, status.Errorf(codes.Unavailable, "recording the certificate of node %q: %v", node, err)
	}
	return s.response(cert), nil
}

// response hands out cert, to be renewed once two thirds of the time it
// has left have passed.
func (s *Server) response(cert *x509.Certificate) *agentv1.EnrollResponse {
	now := time.Now()
	return &agentv1.EnrollResponse{
		Certificate:   cert.Raw,
		CaCertificate: s.ca.Certificate().Raw,
		RenewAfter:    timestamppb.New(now.Add(cert.NotAfter.Sub(now) * 2 / 3)),
	}
}

// EndNode ends the session of the node named name, telling its agent
// reason (its certificate was revoked, say); false when it has none. The
// agent cannot open another while its certificate stays revoked.
func (s *Server) EndNode(name, reason string) bool {
	s.mu.Lock()
	nodes := make([]*agentNode, 0, len(s.nodes))
	for _, n := range s.nodes {
		nodes = append(nodes, n)
	}
	s.mu.Unlock()
	ended := false
	for _, n := range nodes {
		n.mu.Lock()
		cur := n.cur
		n.mu.Unlock()
		if cur != nil && cur.name == name && cur.ctx.Err() == nil {
			s.log.Info("ending the session of a node", "node", name, "session", cur.id, "reason", reason)
			cur.end(fmt.Errorf("%w: %s", errRevoked, reason))
			ended = true
		}
	}
	return ended
}
