package enroll

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/store"
)

// Bounds of a join token's settings.
const (
	// DefaultTTL is how long a token lasts when no TTL is given.
	DefaultTTL = 24 * time.Hour
	// MinTTL and MaxTTL bound the TTL of a token.
	MinTTL = time.Minute
	MaxTTL = 30 * 24 * time.Hour
	// DefaultUses is how many enrollments a token allows when not told.
	DefaultUses = 1
	// MaxUses bounds the enrollments one token allows.
	MaxUses = 1000
	// MaxDescriptionLen bounds a token's description, in bytes.
	MaxDescriptionLen = 200
	// maxNodeNameLen bounds a node name in a certificate record.
	maxNodeNameLen = 253
	// maxSerialLen bounds a serial in hex: RFC 5280 serials have at most
	// 20 octets.
	maxSerialLen = 40
	// revokedCacheSize bounds the revocation cache; when full it starts
	// over.
	revokedCacheSize = 10000
)

// createCmd is the command that makes a new token, for messages.
const createCmd = "quantix node token create"

// Options configure a Service.
type Options struct {
	// CAFingerprint is the fingerprint of the agent cluster CA
	// (pki.CA.Fingerprint): every token carries it, and Redeem refuses a
	// token pinning another. Required.
	CAFingerprint string
	// StaticToken is server.join_token: a token that never expires nor
	// runs out, for automation. Empty accepts none.
	StaticToken string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger receives token creations, revocations and redemptions (never
	// a secret); nil discards.
	Logger hclog.Logger
}

// Service manages join tokens and node certificates over the store. It is
// safe for concurrent use.
type Service struct {
	tokens store.JoinTokenRepo
	certs  store.NodeCertRepo
	fp     string
	// static is the SHA-256 of the static token; nil when there is none.
	static []byte
	now    func() time.Time
	log    hclog.Logger

	// mu guards the revocation cache: serial -> revoked. gen counts
	// revocations, so that a lookup that read the store before one does
	// not cache what it read.
	mu      sync.Mutex
	revoked map[string]bool
	gen     uint64
}

// New returns the service over the store's join tokens and node
// certificates.
func New(tokens store.JoinTokenRepo, certs store.NodeCertRepo, opts Options) (*Service, error) {
	if tokens == nil || certs == nil {
		return nil, errors.New("enroll: the join token and node certificate stores are required")
	}
	if err := checkFingerprint(opts.CAFingerprint); err != nil {
		return nil, fmt.Errorf("enroll: Options.CAFingerprint: %w", err)
	}
	s := &Service{tokens: tokens, certs: certs, fp: opts.CAFingerprint, now: opts.Now, log: opts.Logger,
		revoked: make(map[string]bool)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = hclog.NewNullLogger()
	}
	s.log = s.log.Named("enroll")
	if opts.StaticToken != "" {
		h := sha256.Sum256([]byte(opts.StaticToken))
		s.static = h[:]
	}
	return s, nil
}

// CAFingerprint is the agent CA fingerprint tokens carry.
func (s *Service) CAFingerprint() string { return s.fp }

// Spec is what a new join token allows.
type Spec struct {
	// TTL is how long the token lasts: MinTTL..MaxTTL, 0 for DefaultTTL.
	TTL time.Duration
	// Uses is how many agents may enroll with it: 1..MaxUses, 0 for
	// DefaultUses.
	Uses int
	// Description says what the token is for: at most
	// MaxDescriptionLen bytes of printable UTF-8.
	Description string
}

// Token states, as Token.State shows them.
const (
	StateActive  = "active"
	StateExpired = "expired"
	StateUsedUp  = "used_up"
	StateRevoked = "revoked"
)

// Token is a join token as listings show it: never its secret.
type Token struct {
	ID          string     `json:"id"`
	Description string     `json:"description"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"`
	Uses        int        `json:"uses"`
	Used        int        `json:"used"`
	RevokedAt   *time.Time `json:"revoked_at,omitempty"`
	// State is StateActive while the token can be redeemed, else why it
	// cannot (revoked first, then used up, then expired).
	State string `json:"state"`
}

func (s *Service) toToken(t *store.JoinToken) Token {
	out := Token{ID: t.ID, Description: t.Description, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt,
		Uses: t.MaxUses, Used: t.Used, RevokedAt: t.RevokedAt, State: StateActive}
	switch {
	case t.RevokedAt != nil:
		out.State = StateRevoked
	case t.Used >= t.MaxUses:
		out.State = StateUsedUp
	case !s.now().Before(t.ExpiresAt):
		out.State = StateExpired
	}
	return out
}

// Create makes a join token and returns it with its text, which holds the
// secret: show it once, it is not stored. A setting out of bounds is
// KindInvalid naming the field ("ttl", "uses", "description").
func (s *Service) Create(ctx context.Context, spec Spec) (Token, string, error) {
	ttl, uses := spec.TTL, spec.Uses
	switch {
	case ttl == 0:
		ttl = DefaultTTL
	case ttl < MinTTL || ttl > MaxTTL:
		return Token{}, "", invalidf("ttl", "ttl %s is outside %s..%s: give a duration such as 1h or 72h", spec.TTL, MinTTL, fmtDuration(MaxTTL))
	}
	switch {
	case uses == 0:
		uses = DefaultUses
	case uses < 1 || uses > MaxUses:
		return Token{}, "", invalidf("uses", "uses %d is outside 1..%d: give how many agents may join with the token", spec.Uses, MaxUses)
	}
	if err := checkDescription(spec.Description); err != nil {
		return Token{}, "", err
	}
	now := s.now()
	for attempt := 0; ; attempt++ {
		p, err := newParts(s.fp)
		if err != nil {
			return Token{}, "", internal("creating a join token", err)
		}
		text, err := Format(p)
		if err != nil {
			return Token{}, "", internal("creating a join token", err)
		}
		h := sha256.Sum256([]byte(p.Secret))
		rec := &store.JoinToken{ID: p.ID, SecretHash: h[:], Description: spec.Description, CreatedAt: now,
			ExpiresAt: now.Add(ttl), MaxUses: uses}
		err = s.tokens.Create(ctx, rec)
		if errors.Is(err, store.ErrConflict) && attempt < 3 {
			continue // a 40-bit id taken: draw another
		}
		if err != nil {
			return Token{}, "", internal("storing a join token", err)
		}
		s.log.Info("join token created", "id", rec.ID, "expires_at", rec.ExpiresAt, "uses", uses, "description", rec.Description)
		return s.toToken(rec), text, nil
	}
}

// fmtDuration prints d in hours when it is whole hours ("720h").
func fmtDuration(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

func checkDescription(d string) error {
	if len(d) > MaxDescriptionLen {
		return invalidf("description", "description is %d bytes long, at most %d are allowed", len(d), MaxDescriptionLen)
	}
	if !utf8.ValidString(d) {
		return invalidf("description", "description is not valid UTF-8")
	}
	for _, r := range d {
		if !unicode.IsPrint(r) {
			return invalidf("description", "description has a control or non-printable character (%U): use printable text", r)
		}
	}
	return nil
}

// List returns every join token, oldest first.
func (s *Service) List(ctx context.Context) ([]Token, error) {
	list, err := s.tokens.List(ctx)
	if err != nil {
		return nil, internal("listing join tokens", err)
	}
	out := make([]Token, len(list))
	for i, t := range list {
		out[i] = s.toToken(t)
	}
	return out, nil
}

// Revoke revokes join token id at once: it is refused from now on.
// Revoking a revoked token changes nothing. An unknown id is KindNotFound.
func (s *Service) Revoke(ctx context.Context, id string) (Token, error) {
	if checkID(id) != nil {
		return Token{}, notFound(id)
	}
	t, err := s.tokens.Revoke(ctx, id, s.now())
	if errors.Is(err, store.ErrNotFound) {
		return Token{}, notFound(id)
	}
	if err != nil {
		return Token{}, internal("revoking join token "+id, err)
	}
	s.log.Info("join token revoked", "id", id)
	return s.toToken(t), nil
}

func notFound(id string) *Error {
	if len(id) > 2*TokenIDLen {
		id = id[:2*TokenIDLen] + "..."
	}
	return errorf(KindNotFound, "join token %q not found: list the tokens with quantix node token list", id)
}

// Redeem accepts text as a new agent's join token, or refuses it with an
// *Error of a redeem kind whose message names the fix. text is either the
// static token (server.join_token, compared in constant time; never used
// up) or a token Create made: its secret must match, the CA it pins must be
// this server's, and it must be neither revoked, nor used up, nor expired;
// then one use is counted, atomically, so that of agents racing for a
// token's last use exactly one gets it.
func (s *Service) Redeem(ctx context.Context, text string) error {
	if s.isStatic(text) {
		s.log.Info("static join token redeemed")
		return nil
	}
	err := s.redeem(ctx, text)
	if err != nil {
		s.log.Warn("join token refused", "reason", KindOf(err).String(), "error", err)
		return err
	}
	return nil
}

func (s *Service) redeem(ctx context.Context, text string) error {
	t, err := s.lookup(ctx, text)
	if err != nil {
		return err
	}
	id, now := t.ID, s.now()
	if err := s.unusable(t, now); err != nil {
		return err
	}
	ok, err := s.tokens.Use(ctx, id, now)
	if err != nil {
		return internal("counting a use of join token "+id, err)
	}
	if !ok {
		// Revoked, expired or used up since it was read: say which.
		if t, err = s.tokens.Get(ctx, id); err != nil {
			return internal("looking up join token "+id, err)
		}
		if err := s.unusable(t, now); err != nil {
			return err
		}
		return errorf(KindUsedUp, "join token %s is used up: create a new one with %s", id, createCmd)
	}
	s.log.Info("join token redeemed", "id", id, "used", t.Used+1, "uses", t.MaxUses)
	return nil
}

// lookup returns the stored token whose text is text, once its secret and
// the CA it pins are checked; whether it can be used is not.
func (s *Service) lookup(ctx context.Context, text string) (*store.JoinToken, error) {
	p, err := Parse(text)
	if err != nil {
		if s.static != nil && !strings.HasPrefix(text, tokenScheme) {
			return nil, &Error{Kind: KindMalformed, Err: err, Message: "join token rejected: it does not match the server's server.join_token and is not a token made by " +
				createCmd + ": set the agent's join token to one of them"}
		}
		return nil, &Error{Kind: KindMalformed, Err: err, Message: fmt.Sprintf("%v: use the whole token %s printed", err, createCmd)}
	}
	t, err := s.tokens.Get(ctx, p.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(KindUnknown, "join token %s is not known to this server: create one on this server with %s", p.ID, createCmd)
	}
	if err != nil {
		return nil, internal("looking up join token "+p.ID, err)
	}
	h := sha256.Sum256([]byte(p.Secret))
	if subtle.ConstantTimeCompare(h[:], t.SecretHash) != 1 {
		return nil, errorf(KindWrongSecret, "join token %s has the wrong secret: use the whole token as %s printed it, or create a new one", p.ID, createCmd)
	}
	if p.CAFingerprint != s.fp {
		return nil, errorf(KindWrongCA, "join token %s pins agent CA sha256:%s, but this server's agent CA is sha256:%s: the token was made for another server or before its CA was replaced; create a new one with %s",
			p.ID, p.CAFingerprint, s.fp, createCmd)
	}
	return t, nil
}

// staticRef is how a certificate record names server.join_token; a token
// id has TokenIDLen characters, so no id is this.
const staticRef = "static"

// isStatic reports whether text is the static token, compared in constant
// time.
func (s *Service) isStatic(text string) bool {
	if s.static == nil {
		return false
	}
	h := sha256.Sum256([]byte(text))
	return subtle.ConstantTimeCompare(h[:], s.static) == 1
}

// tokenRef is how a certificate record names the join token of text: its
// id, or staticRef; empty for a text that is neither.
func (s *Service) tokenRef(text string) string {
	if s.isStatic(text) {
		return staticRef
	}
	if p, err := Parse(text); err == nil {
		return p.ID
	}
	return ""
}

// unusable says why t cannot be redeemed at now, or nil when it can.
func (s *Service) unusable(t *store.JoinToken, now time.Time) error {
	switch {
	case t.RevokedAt != nil:
		return errorf(KindRevoked, "join token %s was revoked at %s: create a new one with %s", t.ID, t.RevokedAt.Format(time.RFC3339), createCmd)
	case t.Used >= t.MaxUses:
		return errorf(KindUsedUp, "join token %s is used up (%d of %d uses): create a new one with %s (-uses N lets N agents join)", t.ID, t.Used, t.MaxUses, createCmd)
	case !now.Before(t.ExpiresAt):
		return errorf(KindExpired, "join token %s expired at %s: create a new one with %s", t.ID, t.ExpiresAt.Format(time.RFC3339), createCmd)
	}
	return nil
}

// Serial is how certificate serials are recorded: the serial number in
// lower-case hex without leading zeros.
func Serial(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }

// RecordCert records that a client certificate with serial (as Serial
// gives it) valid until notAfter was issued to node. The agent server
// records every certificate it issues before handing it out: Revoked
// counts a serial never recorded as revoked.
func (s *Service) RecordCert(ctx context.Context, node, serial string, notAfter time.Time) error {
	return s.record(ctx, &store.NodeCert{Serial: serial, NodeName: node, NotAfter: notAfter})
}

// record checks and stores c, issued now, and caches it as not revoked.
func (s *Service) record(ctx context.Context, c *store.NodeCert) error {
	node, serial := c.NodeName, c.Serial
	if node == "" || len(node) > maxNodeNameLen {
		return invalidf("node", "node name must be 1..%d characters", maxNodeNameLen)
	}
	if serial == "" || len(serial) > maxSerialLen || !isLowerHex(serial) {
		return invalidf("serial", "certificate serial must be 1..%d lower-case hex digits (enroll.Serial)", maxSerialLen)
	}
	if c.NotAfter.IsZero() {
		return invalidf("not_after", "certificate expiry is required")
	}
	c.IssuedAt = s.now()
	s.mu.Lock()
	gen := s.gen
	s.mu.Unlock()
	if err := s.certs.Record(ctx, c); err != nil {
		return internal(fmt.Sprintf("recording certificate %s of node %q", serial, node), err)
	}
	s.mu.Lock()
	if s.gen == gen {
		s.cacheLocked(serial, false)
	}
	s.mu.Unlock()
	s.log.Info("node certificate recorded", "node", node, "serial", serial, "not_after", c.NotAfter)
	return nil
}

// RecordEnrollment records cert, just issued to node because it enrolled
// with the join token text (which Redeem took), as RecordCert does, and
// with what Reenrollment checks a retry of that enrollment against: the
// token (by id, never its secret), the certificate's public key and the
// certificate itself.
func (s *Service) RecordEnrollment(ctx context.Context, node string, cert *x509.Certificate, text string) error {
	if cert == nil {
		return invalidf("certificate", "the certificate is required")
	}
	ref := s.tokenRef(text)
	if ref == "" {
		return invalidf("join_token", "the join token is neither server.join_token nor a token made by %s", createCmd)
	}
	key := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return s.record(ctx, &store.NodeCert{Serial: Serial(cert), NodeName: node, NotAfter: cert.NotAfter,
		JoinToken: ref, PublicKeySHA256: hex.EncodeToString(key[:]), DER: cert.Raw})
}

// Reenrollment decides a retry of node's enrollment, whose reply may have
// been lost: it returns node's current certificate (DER) when that
// certificate was issued by an enrollment with the join token text for the
// public key pubKey (a DER SubjectPublicKeyInfo, from a certificate request
// the caller checked the signature of), and the token is still valid:
// neither revoked nor expired (it may be used up; no use is counted). ok is
// false for anything else: no current certificate, a renewed one, another
// key, another token, or a token no longer valid; why is logged. A retry
// thus gives nothing its caller did not have: it holds the certificate's
// key.
func (s *Service) Reenrollment(ctx context.Context, node, text string, pubKey []byte) (der []byte, ok bool, err error) {
	c, found, err := s.activeCert(ctx, node)
	if err != nil || !found {
		return nil, false, err
	}
	refuse := func(why string) ([]byte, bool, error) {
		s.log.Warn("enrollment retry refused", "node", node, "serial", c.Serial, "reason", why)
		return nil, false, nil
	}
	key := sha256.Sum256(pubKey)
	switch {
	case c.JoinToken == "" || len(c.DER) == 0:
		return refuse("the node's current certificate was not issued by an enrollment")
	case c.PublicKeySHA256 != hex.EncodeToString(key[:]):
		return refuse("the request is for another key than the node's certificate")
	}
	if c.JoinToken == staticRef {
		if !s.isStatic(text) {
			return refuse("the node enrolled with server.join_token, the retry presents another token")
		}
	} else {
		t, err := s.lookup(ctx, text)
		if err != nil {
			if KindOf(err) == KindInternal {
				return nil, false, err
			}
			return refuse(err.Error())
		}
		if t.ID != c.JoinToken {
			return refuse("the node enrolled with join token " + c.JoinToken + ", the retry presents " + t.ID)
		}
		switch now := s.now(); {
		case t.RevokedAt != nil:
			return refuse("join token " + t.ID + " was revoked")
		case !now.Before(t.ExpiresAt):
			return refuse("join token " + t.ID + " expired")
		}
	}
	s.log.Info("enrollment retried: the node's certificate is sent again", "node", node, "serial", c.Serial, "token", c.JoinToken)
	return c.DER, true, nil
}

// ActiveCert returns the serial of node's newest certificate that is
// neither revoked nor expired; ok is false when it has none, and another
// agent may then enroll under the node's name.
func (s *Service) ActiveCert(ctx context.Context, node string) (serial string, ok bool, err error) {
	c, ok, err := s.activeCert(ctx, node)
	if err != nil || !ok {
		return "", false, err
	}
	return c.Serial, true, nil
}

// activeCert returns node's newest certificate that is neither revoked nor
// expired.
func (s *Service) activeCert(ctx context.Context, node string) (*store.NodeCert, bool, error) {
	list, err := s.certs.ListByNode(ctx, node)
	if err != nil {
		return nil, false, internal(fmt.Sprintf("reading the certificates of node %q", node), err)
	}
	now := s.now()
	for _, c := range list {
		if c.RevokedAt == nil && now.Before(c.NotAfter) {
			return c, true, nil
		}
	}
	return nil, false, nil
}

// Revoked reports whether the certificate with serial is revoked; a serial
// never recorded counts as revoked. Answers are cached; RevokeNode updates
// the cache at once, so a revoked certificate is refused from then on.
// Expiry is not revocation: TLS verification refuses expired certificates.
func (s *Service) Revoked(ctx context.Context, serial string) (bool, error) {
	s.mu.Lock()
	v, hit := s.revoked[serial]
	gen := s.gen
	s.mu.Unlock()
	if hit {
		return v, nil
	}
	c, err := s.certs.Get(ctx, serial)
	switch {
	case errors.Is(err, store.ErrNotFound):
		v = true
	case err != nil:
		return false, internal("reading certificate "+serial, err)
	default:
		v = c.RevokedAt != nil
	}
	s.mu.Lock()
	if s.gen == gen {
		s.cacheLocked(serial, v)
	}
	s.mu.Unlock()
	return v, nil
}

func (s *Service) cacheLocked(serial string, revoked bool) {
	if _, ok := s.revoked[serial]; !ok && len(s.revoked) >= revokedCacheSize {
		clear(s.revoked)
	}
	s.revoked[serial] = revoked
}

// RevokeNode revokes every certificate of node: its agent is refused from
// now on, and another agent may enroll under its name. A node without
// certificates is no error.
func (s *Service) RevokeNode(ctx context.Context, node string) error {
	n, err := s.certs.RevokeNode(ctx, node, s.now())
	// Whatever the store did, forget every cached answer and make the
	// lookups under way not cache theirs: revocations are rare, lookups
	// cheap to repeat.
	s.mu.Lock()
	s.gen++
	clear(s.revoked)
	s.mu.Unlock()
	if err != nil {
		return internal(fmt.Sprintf("revoking the certificates of node %q", node), err)
	}
	s.log.Info("node certificates revoked", "node", node, "count", n)
	return nil
}
