package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestClusterSecretRepo: the cluster key and each CA are stored once; a
// later InitKey or AddCA returns what was stored first, unchanged; bad
// input is refused and nothing is stored.
func TestClusterSecretRepo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, _ := openFresh(t, b)
		repo := s.ClusterSecrets()
		if _, err := repo.Key(ctx); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Key on a fresh database: %v, want ErrNotFound", err)
		}
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 123456789, time.FixedZone("x", 3600))
		first := &ClusterKey{KDF: "argon2id", Params: "m=65536,t=1,p=2", Salt: []byte("0123456789abcdef"), Check: []byte{1, 2, 3}, CreatedAt: t0}
		got, err := repo.InitKey(ctx, first)
		if err != nil {
			t.Fatal(err)
		}
		if got.KDF != first.KDF || got.Params != first.Params || !bytes.Equal(got.Salt, first.Salt) || !bytes.Equal(got.Check, first.Check) ||
			!got.CreatedAt.Equal(t0.UTC().Truncate(time.Microsecond)) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("InitKey returned %+v, stored %+v", got, first)
		}
		second := &ClusterKey{KDF: "argon2id", Params: "m=8,t=1,p=1", Salt: []byte("fedcba9876543210"), Check: []byte{9}, CreatedAt: t0.Add(time.Hour)}
		got, err = repo.InitKey(ctx, second)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Salt, first.Salt) || got.Params != first.Params {
			t.Errorf("a second InitKey returned %+v; want the first key", got)
		}
		if k, err := repo.Key(ctx); err != nil || !bytes.Equal(k.Salt, first.Salt) {
			t.Errorf("Key = %+v, %v; want the first key", k, err)
		}

		if _, err := repo.CA(ctx, "agents"); !errors.Is(err, ErrNotFound) {
			t.Errorf("CA on a fresh database: %v, want ErrNotFound", err)
		}
		ca := &ClusterCA{Name: "agents", CertPEM: []byte("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"), SealedKey: []byte{0, 1, 2, 255}, CreatedAt: t0}
		stored, err := repo.AddCA(ctx, ca)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Name != "agents" || !bytes.Equal(stored.CertPEM, ca.CertPEM) || !bytes.Equal(stored.SealedKey, ca.SealedKey) {
			t.Errorf("AddCA returned %+v", stored)
		}
		other := &ClusterCA{Name: "agents", CertPEM: []byte("other"), SealedKey: []byte{7}, CreatedAt: t0}
		if stored, err = repo.AddCA(ctx, other); err != nil || !bytes.Equal(stored.CertPEM, ca.CertPEM) {
			t.Errorf("a second AddCA of agents returned %+v, %v; want the first", stored, err)
		}
		if _, err := repo.AddCA(ctx, &ClusterCA{Name: "api", CertPEM: []byte("api"), SealedKey: []byte{8}, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		list, err := repo.CAs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Name != "agents" || list[1].Name != "api" {
			t.Errorf("CAs = %+v; want agents, api", list)
		}

		for name, bad := range map[string]*ClusterCA{
			"no name":    {CertPEM: []byte("c"), SealedKey: []byte{1}, CreatedAt: t0},
			"no cert":    {Name: "x", SealedKey: []byte{1}, CreatedAt: t0},
			"no key":     {Name: "x", CertPEM: []byte("c"), CreatedAt: t0},
			"no created": {Name: "x", CertPEM: []byte("c"), SealedKey: []byte{1}},
		} {
			if _, err := repo.AddCA(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("AddCA %s: %v, want ErrInvalid", name, err)
			}
		}
		if _, err := repo.CA(ctx, "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("a refused CA was stored: %v", err)
		}
		for name, bad := range map[string]*ClusterKey{
			"no kdf":     {Params: "p", Salt: []byte{1}, Check: []byte{1}, CreatedAt: t0},
			"no salt":    {KDF: "k", Params: "p", Check: []byte{1}, CreatedAt: t0},
			"no check":   {KDF: "k", Params: "p", Salt: []byte{1}, CreatedAt: t0},
			"no created": {KDF: "k", Params: "p", Salt: []byte{1}, Check: []byte{1}},
		} {
			if _, err := repo.InitKey(ctx, bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("InitKey %s: %v, want ErrInvalid", name, err)
			}
		}
	})
}

// TestClusterSecretRace: servers storing their key and CA at once, each
// through its own connection, all end with the same ones.
func TestClusterSecretRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		driver, dsn := b.fresh(t)
		const n = 6
		stores := make([]*sqlStore, n)
		for i := range stores {
			stores[i] = openAt(t, driver, dsn)
		}
		keys := make([]*ClusterKey, n)
		cas := make([]*ClusterCA, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				repo := stores[i].ClusterSecrets()
				mine := fmt.Sprintf("server %d", i)
				keys[i], errs[i] = repo.InitKey(ctx, &ClusterKey{KDF: "argon2id", Params: "p", Salt: []byte(mine), Check: []byte(mine), CreatedAt: time.Now()})
				if errs[i] != nil {
					return
				}
				cas[i], errs[i] = repo.AddCA(ctx, &ClusterCA{Name: "agents", CertPEM: []byte(mine), SealedKey: []byte(mine), CreatedAt: time.Now()})
			}()
		}
		close(start)
		wg.Wait()
		for i := range stores {
			if errs[i] != nil {
				t.Fatalf("server %d: %v", i, errs[i])
			}
			if !bytes.Equal(keys[i].Salt, keys[0].Salt) || !bytes.Equal(cas[i].CertPEM, cas[0].CertPEM) {
				t.Errorf("server %d ended with key %q and CA %q; server 0 with %q and %q", i, keys[i].Salt, cas[i].CertPEM, keys[0].Salt, cas[0].CertPEM)
			}
		}
	})
}
