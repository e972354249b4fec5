package auth

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/identity"
	"github.com/quantixvm/quantix/internal/teststore"
)

// benchService is a Service on a SQLite store with the real clock, a
// user, one of its sessions and one of its tokens.
func benchService(b *testing.B) (*Service, Session, string) {
	b.Helper()
	st := teststore.Open(b, "sqlite")
	svc := New(st.Auth(), Options{Logger: hclog.NewNullLogger()})
	b.Cleanup(func() { svc.Close() })
	if _, err := svc.CreateUser(ctx, "bench", testPassword, identity.RoleOperator); err != nil {
		b.Fatal(err)
	}
	ss, err := svc.Login(ctx, LoginRequest{Username: "bench", Password: testPassword, ClientAddr: "127.0.0.1"})
	if err != nil {
		b.Fatal(err)
	}
	p, err := svc.Authenticate(ctx, cookieRequest(http.MethodGet, ss, false))
	if err != nil {
		b.Fatal(err)
	}
	_, plain, err := svc.CreateToken(ctx, p, TokenSpec{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return svc, ss, plain
}

// benchAuthenticate authenticates r b.N times with a warm cache and
// reports the median and 99th percentile of one call besides the mean.
func benchAuthenticate(b *testing.B, svc *Service, r *http.Request) {
	if _, err := svc.Authenticate(ctx, r); err != nil {
		b.Fatal(err)
	}
	took := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		_, err := svc.Authenticate(ctx, r)
		took = append(took, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkAuthenticateToken: a request with a known bearer token.
func BenchmarkAuthenticateToken(b *testing.B) {
	svc, _, plain := benchService(b)
	benchAuthenticate(b, svc, bearerRequest(http.MethodPost, plain))
}

// BenchmarkAuthenticateSession: a GET with a known session cookie.
func BenchmarkAuthenticateSession(b *testing.B) {
	svc, ss, _ := benchService(b)
	benchAuthenticate(b, svc, cookieRequest(http.MethodGet, ss, false))
}

// BenchmarkAuthenticateSessionCSRF: a POST with the session cookie and its
// CSRF token.
func BenchmarkAuthenticateSessionCSRF(b *testing.B) {
	svc, ss, _ := benchService(b)
	benchAuthenticate(b, svc, cookieRequest(http.MethodPost, ss, true))
}

// BenchmarkAuthenticateTokenParallel: known bearer tokens from every
// core at once, the cache's lock shared.
func BenchmarkAuthenticateTokenParallel(b *testing.B) {
	svc, _, plain := benchService(b)
	if _, err := svc.Authenticate(ctx, bearerRequest(http.MethodGet, plain)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := bearerRequest(http.MethodGet, plain)
		for pb.Next() {
			if _, err := svc.Authenticate(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
