package auth

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/core/store"
	"github.com/quantixvm/quantix/internal/teststore"
)

// countingRepo counts the reads of credentials Authenticate may make.
type countingRepo struct {
	store.AuthRepo
	reads atomic.Int64
}

func (c *countingRepo) GetTokenByPrefix(ctx context.Context, prefix string) (*store.AuthToken, error) {
	c.reads.Add(1)
	return c.AuthRepo.GetTokenByPrefix(ctx, prefix)
}

func (c *countingRepo) GetSessionByHash(ctx context.Context, hash []byte) (*store.AuthSession, error) {
	c.reads.Add(1)
	return c.AuthRepo.GetSessionByHash(ctx, hash)
}

func (c *countingRepo) GetUser(ctx context.Context, id string) (*store.AuthUser, error) {
	c.reads.Add(1)
	return c.AuthRepo.GetUser(ctx, id)
}

// TestCacheSparesTheStore: once verified, a token or session is
// authenticated without reading the store until CacheRefresh has passed.
func TestCacheSparesTheStore(t *testing.T) {
	e := newEnv(t, "sqlite", nil)
	counting := &countingRepo{AuthRepo: e.repo}
	e.svc = New(counting, Options{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: e.log}),
		Now: e.clock.Now, AfterFunc: e.clock.AfterFunc})
	e.mustUser(t, "ann", identity.RoleOperator)
	ss := e.mustLogin(t, "ann")
	p := e.mustAuth(t, cookieRequest(http.MethodGet, ss, false))
	_, plain := e.mustToken(t, p, TokenSpec{Name: "ci"})
	e.mustAuth(t, bearerRequest(http.MethodGet, plain))
	before := counting.reads.Load()
	for range 100 {
		e.mustAuth(t, bearerRequest(http.MethodGet, plain))
		e.mustAuth(t, cookieRequest(http.MethodPost, ss, true))
	}
	if n := counting.reads.Load() - before; n != 0 {
		t.Errorf("%d store reads for 200 requests with known credentials", n)
	}
	e.clock.Advance(DefaultCacheRefresh)
	e.mustAuth(t, bearerRequest(http.MethodGet, plain))
	if n := counting.reads.Load() - before; n != 2 {
		t.Errorf("%d store reads after CacheRefresh, want 2 (token and owner)", n)
	}
}

// TestCacheAcrossProcesses: a change made by another Service on the same
// database is seen once CacheRefresh has passed.
func TestCacheAcrossProcesses(t *testing.T) {
	for _, driver := range teststore.Drivers {
		t.Run(driver, func(t *testing.T) {
			e := newEnv(t, driver, nil)
			other := New(e.repo, Options{Logger: hclog.NewNullLogger(), Now: e.clock.Now, AfterFunc: e.clock.AfterFunc})
			defer other.Close()
			e.mustUser(t, "root", identity.RoleAdmin)
			p := e.mustAuth(t, cookieRequest(http.MethodGet, e.mustLogin(t, "root"), false))
			tok, plain := e.mustToken(t, p, TokenSpec{Name: "shared"})
			e.mustAuth(t, bearerRequest(http.MethodGet, plain))
			if err := other.RevokeToken(ctx, tok.ID); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(DefaultCacheRefresh)
			_, err := e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, plain))
			wantErr(t, "a token another process revoked", err, KindUnauthenticated, "", "revoked")
		})
	}
}

// TestRevocationRacesRequests: requests run while a token is revoked;
// every request that starts after RevokeToken returned is refused, so no
// read racing the revocation leaves a stale cache entry.
func TestRevocationRacesRequests(t *testing.T) {
	e := newEnv(t, "sqlite", func(o *Options) { o.CacheRefresh = time.Hour })
	e.mustUser(t, "root", identity.RoleAdmin)
	p := e.mustAuth(t, cookieRequest(http.MethodGet, e.mustLogin(t, "root"), false))
	for round := range 20 {
		tok, plain := e.mustToken(t, p, TokenSpec{Name: "racing"})
		var (
			revoked atomic.Bool
			wg      sync.WaitGroup
			stale   atomic.Int64
			stop    = make(chan struct{})
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					after := revoked.Load()
					_, err := e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, plain))
					if after && err == nil {
						stale.Add(1)
					}
				}
			}()
		}
		if err := e.svc.RevokeToken(ctx, tok.ID); err != nil {
			t.Fatal(err)
		}
		revoked.Store(true)
		// Let each goroutine make requests after the revocation.
		for range 50 {
			if _, err := e.svc.Authenticate(ctx, bearerRequest(http.MethodGet, plain)); err == nil {
				stale.Add(1)
			}
		}
		close(stop)
		wg.Wait()
		if n := stale.Load(); n != 0 {
			t.Fatalf("round %d: %d requests passed with a token revoked before they began", round, n)
		}
	}
}
