package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/quantixvm/quantix/core/clusterkey"
	"github.com/quantixvm/quantix/core/config"
	"github.com/quantixvm/quantix/core/pki"
	"github.com/quantixvm/quantix/core/store"
)

// apiCAName is the common name of the CA the server generates for the
// REST API.
const apiCAName = "Quantix API CA"

// apiPKIDir is where the generated CA of the REST API and the server
// certificate it issued are kept.
func apiPKIDir(cfg *config.Config) string {
	return filepath.Join(cfg.DataDir, "pki", "api")
}

// apiTLS returns the TLS configuration of the REST API, or nil when it
// serves plain HTTP (config.APITLS). With server.tls.cert_file and
// key_file it serves that pair; otherwise a certificate for http_addr,
// the hostname, localhost, 127.0.0.1 and ::1 issued by the API's CA, both
// generated on first start and kept across restarts under
// <data_dir>/pki/api; with a cluster key the CA is the cluster's, kept in
// the database (its certificate is still written there as ca.crt), so
// every server's certificate is issued by the one CA clients trust. It
// logs the CA's SHA-256 fingerprint and the path of its certificate, which
// clients need to trust the API.
func apiTLS(ctx context.Context, cfg *config.Config, st store.Store, key *clusterkey.Key, logger hclog.Logger) (*tls.Config, error) {
	if !cfg.APITLS() {
		return nil, nil
	}
	t := cfg.Server.TLS
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the API certificate of server.tls.cert_file (%s) and server.tls.key_file (%s): %w", t.CertFile, t.KeyFile, err)
		}
		logger.Info("API TLS certificate from server.tls.cert_file", "cert_file", t.CertFile)
		return serverTLSConfig(cert), nil
	}
	dir := apiPKIDir(cfg)
	ca, err := loadCA(ctx, st, key, clusterCAAPI, apiCAName, dir, logger)
	if err != nil {
		return nil, fmt.Errorf("the API's certificate authority (set server.tls.cert_file and key_file to use your own certificate): %w", err)
	}
	cert, err := ca.LoadOrIssueServer(dir, pki.DefaultServerHosts(cfg.Server.HTTPAddr))
	if err != nil {
		return nil, fmt.Errorf("the API's server certificate: %w", err)
	}
	caFile := filepath.Join(dir, pki.CACertFile)
	if abs, err := filepath.Abs(caFile); err == nil {
		caFile = abs
	}
	whose := "the server's own CA"
	if key != nil {
		whose = "the cluster's API CA, the same on every server"
	}
	logger.Info("API TLS certificate issued by "+whose+": give clients its certificate (quantix -ca-cert, QUANTIX_CACERT, curl --cacert) or check its fingerprint at quantix login",
		"ca_file", caFile, "ca_sha256", ca.Fingerprint(), "ca_kept_in", caSource(key))
	return serverTLSConfig(cert), nil
}

func serverTLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
}
