package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func joinToken(id string, created time.Time, ttl time.Duration, uses int) *JoinToken {
	h := sha256.Sum256([]byte("secret of " + id))
	return &JoinToken{ID: id, SecretHash: h[:], Description: "for " + id, CreatedAt: created, ExpiresAt: created.Add(ttl), MaxUses: uses}
}

// TestJoinTokenCRUD: tokens read back as stored (times normalised), list
// oldest first, revoke once; bad ones are refused and nothing is stored.
func TestJoinTokenCRUD(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		repo := s.JoinTokens()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
		a, c := joinToken("aaaa", t0.Add(time.Second), time.Hour, 1), joinToken("cccc", t0, 24*time.Hour, 5)
		for _, tok := range []*JoinToken{a, c} {
			if err := repo.Create(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if a.CreatedAt != t0.Add(time.Second).UTC().Truncate(time.Microsecond) {
			t.Errorf("created_at not normalised: %v", a.CreatedAt)
		}
		got, err := repo.Get(ctx, "aaaa")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != a.ID || !bytes.Equal(got.SecretHash, a.SecretHash) || got.Description != a.Description ||
			!got.CreatedAt.Equal(a.CreatedAt) || !got.ExpiresAt.Equal(a.ExpiresAt) || got.MaxUses != 1 || got.Used != 0 || got.RevokedAt != nil {
			t.Errorf("read back %+v, stored %+v", got, a)
		}
		if got.CreatedAt.Location() != time.UTC {
			t.Errorf("read back in %v, want UTC", got.CreatedAt.Location())
		}
		list, err := repo.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ids := tokenIDs(list); !slices.Equal(ids, []string{"cccc", "aaaa"}) {
			t.Errorf("list order %v, want oldest first", ids)
		}

		if _, err := repo.Get(ctx, "none"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get unknown: %v", err)
		}
		if err := repo.Create(ctx, joinToken("aaaa", t0, time.Hour, 1)); !errors.Is(err, ErrConflict) {
			t.Errorf("create with a taken id: %v", err)
		}
		for name, bad := range map[string]*JoinToken{
			"empty id":      {SecretHash: a.SecretHash, CreatedAt: t0, ExpiresAt: t0, MaxUses: 1},
			"short hash":    {ID: "b1", SecretHash: []byte{1, 2}, CreatedAt: t0, ExpiresAt: t0, MaxUses: 1},
			"zero uses":     {ID: "b2", SecretHash: a.SecretHash, CreatedAt: t0, ExpiresAt: t0, MaxUses: 0},
			"used too much": {ID: "b3", SecretHash: a.SecretHash, CreatedAt: t0, ExpiresAt: t0, MaxUses: 1, Used: 2},
			"no expiry":     {ID: "b4", SecretHash: a.SecretHash, CreatedAt: t0, MaxUses: 1},
		} {
			if err := repo.Create(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}
		if list, _ := repo.List(ctx); len(list) != 2 {
			t.Errorf("%d tokens after the refused creates, want 2", len(list))
		}

		r1 := normTime(t0.Add(time.Minute))
		rev, err := repo.Revoke(ctx, "cccc", r1)
		if err != nil {
			t.Fatal(err)
		}
		if rev.RevokedAt == nil || !rev.RevokedAt.Equal(r1) {
			t.Errorf("revoked at %v, want %v", rev.RevokedAt, r1)
		}
		again, err := repo.Revoke(ctx, "cccc", r1.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if !again.RevokedAt.Equal(r1) {
			t.Errorf("a second revoke moved revoked_at to %v", again.RevokedAt)
		}
		if _, err := repo.Revoke(ctx, "none", r1); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoke unknown: %v", err)
		}
	})
}

func tokenIDs(list []*JoinToken) []string {
	out := make([]string, len(list))
	for i, t := range list {
		out[i] = t.ID
	}
	return out
}

// TestJoinTokenUse: a use is counted only while the token has one left:
// not past its expiry (expires_at itself is too late), not revoked, not used
// up; an unknown token counts nothing.
func TestJoinTokenUse(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		repo := s.JoinTokens()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		for _, tok := range []*JoinToken{joinToken("two", t0, time.Hour, 2), joinToken("exp", t0, time.Hour, 3), joinToken("rev", t0, time.Hour, 3)} {
			if err := repo.Create(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		use := func(id string, at time.Time, want bool) {
			t.Helper()
			ok, err := repo.Use(ctx, id, at)
			if err != nil {
				t.Fatal(err)
			}
			if ok != want {
				t.Errorf("use %s at %v = %v, want %v", id, at.Sub(t0), ok, want)
			}
		}
		use("two", t0, true)
		use("two", t0.Add(time.Minute), true)
		use("two", t0.Add(2*time.Minute), false)
		if tok, _ := repo.Get(ctx, "two"); tok.Used != 2 {
			t.Errorf("used %d, want 2", tok.Used)
		}

		use("exp", t0.Add(time.Hour-time.Microsecond), true)
		use("exp", t0.Add(time.Hour), false)
		use("exp", t0.Add(2*time.Hour), false)

		if _, err := repo.Revoke(ctx, "rev", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		use("rev", t0.Add(2*time.Minute), false)
		use("unknown", t0, false)
		if tok, _ := repo.Get(ctx, "rev"); tok.Used != 0 {
			t.Errorf("a revoked token counted %d uses", tok.Used)
		}
	})
}

// TestJoinTokenUseRace: callers racing for the uses of a token get exactly
// as many as it allows, on separate connections of the pool.
func TestJoinTokenUseRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		repo := s.JoinTokens()
		now := time.Now()
		const uses, callers = 3, 16
		if err := repo.Create(ctx, joinToken("race", now, time.Hour, uses)); err != nil {
			t.Fatal(err)
		}
		var (
			wg  sync.WaitGroup
			mu  sync.Mutex
			won int
		)
		start := make(chan struct{})
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ok, err := repo.Use(ctx, "race", now)
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					won++
					mu.Unlock()
				}
			}()
		}
		close(start)
		wg.Wait()
		if won != uses {
			t.Errorf("%d callers took a use of a %d-use token", won, uses)
		}
		if tok, _ := repo.Get(ctx, "race"); tok.Used != uses {
			t.Errorf("used %d, want %d", tok.Used, uses)
		}
	})
}

// TestNodeCerts: certificates read back per node newest first; revoking a
// node revokes each of its certificates once and no other node's.
func TestNodeCerts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		repo := s.NodeCerts()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		for i, c := range []struct{ serial, node string }{{"a1", "n1"}, {"b2", "n1"}, {"c3", "n2"}} {
			issued := t0.Add(time.Duration(i) * time.Hour)
			if err := repo.Record(ctx, &NodeCert{Serial: c.serial, NodeName: c.node, IssuedAt: issued, NotAfter: issued.Add(24 * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := repo.Get(ctx, "b2")
		if err != nil {
			t.Fatal(err)
		}
		if got.NodeName != "n1" || !got.IssuedAt.Equal(t0.Add(time.Hour)) || !got.NotAfter.Equal(t0.Add(25*time.Hour)) || got.RevokedAt != nil {
			t.Errorf("read back %+v", got)
		}
		list, err := repo.ListByNode(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if serials := certSerials(list); !slices.Equal(serials, []string{"b2", "a1"}) {
			t.Errorf("certificates of n1 %v, want newest first", serials)
		}
		if got.JoinToken != "" || got.PublicKeySHA256 != "" || got.DER != nil {
			t.Errorf("a certificate recorded without its enrollment reads back with one: %+v", got)
		}
		// A certificate issued by enrollment keeps its token, key hash and
		// bytes.
		der := []byte{0x30, 0x82, 0x00, 0xff, 0x00}
		enrolled := &NodeCert{Serial: "d4", NodeName: "n4", IssuedAt: t0, NotAfter: t0.Add(time.Hour),
			JoinToken: "abcdefgh", PublicKeySHA256: strings.Repeat("ab", 32), DER: der}
		if err := repo.Record(ctx, enrolled); err != nil {
			t.Fatal(err)
		}
		if got, err := repo.Get(ctx, "d4"); err != nil || got.JoinToken != "abcdefgh" || got.PublicKeySHA256 != strings.Repeat("ab", 32) || !bytes.Equal(got.DER, der) {
			t.Errorf("enrolled certificate read back as %+v, %v", got, err)
		}
		if l, err := repo.ListByNode(ctx, "n4"); err != nil || len(l) != 1 || !bytes.Equal(l[0].DER, der) || l[0].JoinToken != "abcdefgh" {
			t.Errorf("enrolled certificate listed as %+v, %v", l, err)
		}
		if _, err := repo.Get(ctx, "zz"); !errors.Is(err, ErrNotFound) {
			t.Errorf("get unknown: %v", err)
		}
		if err := repo.Record(ctx, &NodeCert{Serial: "a1", NodeName: "n3", IssuedAt: t0, NotAfter: t0}); !errors.Is(err, ErrConflict) {
			t.Errorf("a serial recorded twice: %v", err)
		}
		for name, bad := range map[string]*NodeCert{
			"no serial": {NodeName: "n", IssuedAt: t0, NotAfter: t0},
			"no node":   {Serial: "s", IssuedAt: t0, NotAfter: t0},
			"no times":  {Serial: "s", NodeName: "n"},
		} {
			if err := repo.Record(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("%s: %v, want ErrInvalid", name, err)
			}
		}

		at := t0.Add(3 * time.Hour)
		if n, err := repo.RevokeNode(ctx, "n1", at); err != nil || n != 2 {
			t.Fatalf("revoke n1 = %d, %v; want 2", n, err)
		}
		if n, err := repo.RevokeNode(ctx, "n1", at.Add(time.Hour)); err != nil || n != 0 {
			t.Errorf("revoke n1 again = %d, %v; want 0", n, err)
		}
		list, _ = repo.ListByNode(ctx, "n1")
		for _, c := range list {
			if c.RevokedAt == nil || !c.RevokedAt.Equal(at) {
				t.Errorf("certificate %s revoked at %v, want %v", c.Serial, c.RevokedAt, at)
			}
		}
		if c, _ := repo.Get(ctx, "c3"); c.RevokedAt != nil {
			t.Errorf("n2's certificate was revoked with n1's")
		}
		if n, err := repo.RevokeNode(ctx, "nobody", at); err != nil || n != 0 {
			t.Errorf("revoke a node without certificates = %d, %v", n, err)
		}
	})
}

func certSerials(list []*NodeCert) []string {
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = c.Serial
	}
	return out
}

// TestEnrollTablesInTx: the repositories write inside Tx and roll back
// with it.
func TestEnrollTablesInTx(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		now := time.Now()
		rollback := fmt.Errorf("roll back")
		err := s.Tx(ctx, func(tx Store) error {
			if err := tx.JoinTokens().Create(ctx, joinToken("tx", now, time.Hour, 1)); err != nil {
				return err
			}
			if err := tx.NodeCerts().Record(ctx, &NodeCert{Serial: "tx", NodeName: "n", IssuedAt: now, NotAfter: now}); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatalf("Tx = %v", err)
		}
		if _, err := s.JoinTokens().Get(ctx, "tx"); !errors.Is(err, ErrNotFound) {
			t.Errorf("token after rollback: %v", err)
		}
		if _, err := s.NodeCerts().Get(ctx, "tx"); !errors.Is(err, ErrNotFound) {
			t.Errorf("certificate after rollback: %v", err)
		}
	})
}
