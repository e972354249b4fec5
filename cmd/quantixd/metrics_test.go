package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quantixvm/quantix/internal/testbin"
	"github.com/quantixvm/quantix/internal/wait"
)

// requireProm returns the path of the named Prometheus binary (prometheus,
// promtool). Without it the test is skipped, saying how to get it, except
// in CI (CI set), where `make deps` installs it and its absence fails.
func requireProm(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := fmt.Sprintf("%s is not installed (%v): `make deps` installs Debian's prometheus package, which has prometheus and promtool", name, err)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// startSimDev runs `quantixd dev` on the simulated backend, as a real
// plugin process, and logs in as admin.
func startSimDev(t *testing.T) *proc {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`log_level = "debug"
data_dir  = %q
agent {
  backend            = "sim"
  heartbeat_interval = "500ms"
  sync_jitter        = "100ms"
}
plugin "sim" {
  path = %q
  config {
    log_dir = %q
  }
}
`, dir, simPlugin(t), filepath.Join(dir, "vmlogs"))
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return startDaemon(t, "dev", "-config", path, "-node-name", "metrics-node")
}

// scrape reads GET /metrics with token ("" for none).
func (p *proc) scrape(t *testing.T, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, p.url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.sendAs(req, token)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, b
}

// prometheusServer is a prometheus process the test started.
type prometheusServer struct {
	url string
	log string
}

// startPrometheus runs prometheus on a free loopback port with a temporary
// config and storage, scraping target's /metrics every 500ms with the
// bearer token token, until the test ends.
func startPrometheus(t *testing.T, bin, target, token string) *prometheusServer {
	t.Helper()
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global:
  scrape_interval: 500ms
  scrape_timeout: 450ms
scrape_configs:
  - job_name: quantix
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: %s
    static_configs:
      - targets: [%q]
`, tokenFile, target)
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	logFile := filepath.Join(dir, "prometheus.log")
	out, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=info")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prometheus: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	ps := &prometheusServer{url: "http://" + addr, log: logFile}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("prometheus's log:\n%s", b)
		}
	})
	wait.UntilNil(t, 30*time.Second, "prometheus to be ready on "+addr, func() error {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logFile)
			t.Fatalf("prometheus exited at start (%v):\n%s", err, b)
		default:
		}
		res, err := http.Get(ps.url + "/-/ready")
		if err != nil {
			return err
		}
		_ = res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /-/ready: %s", res.Status)
		}
		return nil
	})
	return ps
}

// promResult is the reply of the query API.
type promResult struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Value [2]any `json:"value"`
		} `json:"result"`
	} `json:"data"`
}

// run evaluates an instant PromQL query; an error when Prometheus refuses
// it.
func (ps *prometheusServer) run(q string) (*promResult, error) {
	res, err := http.Get(ps.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	var body promResult
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %s: %w", q, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %s: %s", q, body.Error)
	}
	return &body, nil
}

// query evaluates an instant PromQL query and returns its single value;
// ok is false when the result is empty.
func (ps *prometheusServer) query(q string) (v float64, ok bool, err error) {
	body, err := ps.run(q)
	if err != nil {
		return 0, false, err
	}
	switch len(body.Data.Result) {
	case 0:
		return 0, false, nil
	case 1:
	default:
		return 0, false, fmt.Errorf("query %s: %d series, want one", q, len(body.Data.Result))
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	v, err = strconv.ParseFloat(s, 64)
	return v, err == nil, err
}

// TestMetricsPrometheus: a real Prometheus scrapes `quantixd dev` (a real
// agent and backend plugin process on the simulated backend) with a viewer
// token and answers queries for the control plane's series after API calls
// and VM creates; /metrics refuses a scrape without credentials; promtool
// finds nothing to lint in what it serves.
func TestMetricsPrometheus(t *testing.T) {
	promBin := requireProm(t, "prometheus")
	promtool := requireProm(t, "promtool")
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	d := startSimDev(t)

	// /metrics is a read route: a stranger is refused, a viewer reads it.
	if code, body := d.scrape(t, ""); code != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without credentials: %d %s, want 401", code, body)
	}
	viewer := d.must(t, http.StatusCreated, "POST", "/api/tokens", `{"name":"prometheus","role":"viewer"}`).str("token")

	// promtool's lint of what /metrics serves, once every family has
	// series: after VMs are created and the API has answered.
	var ids []string
	for i := range 3 {
		r := d.must(t, http.StatusCreated, "POST", "/api/vms", fmt.Sprintf(`{"name":"qx-metrics-%d","vcpus":1,"memory_mib":64}`, i))
		ids = append(ids, r.str("id"))
	}
	d.must(t, http.StatusOK, "GET", "/api/vms/"+ids[0], "")
	d.must(t, http.StatusNotFound, "GET", "/api/vms/00000000-0000-4000-8000-00000000dead", "")
	code, body := d.scrape(t, viewer)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics as a viewer: %d %s", code, body)
	}
	lint := exec.Command(promtool, "check", "metrics")
	lint.Stdin = bytes.NewReader(body)
	if out, err := lint.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, name := range []string{
		"quantix_api_requests_total", "quantix_api_request_duration_seconds", "quantix_vms", "quantix_nodes",
		"quantix_agent_sessions", "quantix_agent_sessions_opened_total", "quantix_agent_sessions_closed_total",
		"quantix_agent_reports_applied_total", "quantix_agent_report_apply_duration_seconds", "quantix_heartbeat_hash_mismatches_total",
		"quantix_plugin_launches_total", "quantix_plugin_relaunches_total", "quantix_backend_call_duration_seconds",
		"quantix_event_stream_subscribers", "quantix_event_stream_dropped_total",
		"quantix_cluster_is_leader", "quantix_cluster_leader_epoch", "quantix_cluster_leadership_changes_total",
		"quantix_logs_accepted_total",
	} {
		if !bytes.Contains(body, []byte("\n# TYPE "+name+" ")) {
			t.Errorf("GET /metrics has no %s", name)
		}
	}
	if bytes.Contains(body, []byte(ids[0])) || bytes.Contains(body, []byte("dead")) {
		t.Error("GET /metrics has a VM id in a label")
	}

	ps := startPrometheus(t, promBin, strings.TrimPrefix(d.url, "http://"), viewer)
	for _, c := range []struct {
		q    string
		want float64
	}{
		{`up{job="quantix"}`, 1},
		{`sum(quantix_api_requests_total{method="POST",route="/api/vms",code="201"})`, 3},
		{`sum(quantix_api_requests_total{method="GET",route="/api/vms/:id",code="404"})`, 1},
		{`sum(quantix_api_request_duration_seconds_count{method="GET",route="/api/vms/:id"})`, 2},
		{`sum(quantix_vms{node="metrics-node"})`, 3},
		{`sum(quantix_nodes{state="READY"})`, 1},
		{`quantix_agent_sessions`, 1},
		{`quantix_agent_sessions_opened_total`, 1},
		{`sum(quantix_plugin_launches_total{plugin="sim",type="backend",result="ok"})`, 1},
		{`sum(quantix_backend_call_duration_seconds_count{plugin="sim",operation="CreateVM",result="ok"})`, 3},
		{`quantix_cluster_is_leader`, 1},
	} {
		var last float64
		var lastOK bool
		wait.UntilNil(t, 30*time.Second, fmt.Sprintf("prometheus to answer %s with %v", c.q, c.want), func() error {
			v, ok, err := ps.query(c.q)
			if err != nil {
				return err
			}
			last, lastOK = v, ok
			if !ok || v != c.want {
				return fmt.Errorf("%s = %v (series found: %v), want %v", c.q, v, ok, c.want)
			}
			return nil
		})
		t.Logf("%s = %v (%v)", c.q, last, lastOK)
	}
	checkDashboard(t, ps, body)
	checkMetricsDoc(t, body)

	// Heartbeats are applied and timed.
	wait.UntilNil(t, 30*time.Second, "heartbeats applied to be counted", func() error {
		v, ok, err := ps.query(`sum(quantix_agent_reports_applied_total{kind="heartbeat",result="ok"})`)
		if err != nil {
			return err
		}
		if !ok || v < 1 {
			return fmt.Errorf("heartbeats applied = %v", v)
		}
		return nil
	})
}

// metricNameRE finds the Quantix series named in a PromQL expression.
var metricNameRE = regexp.MustCompile(`quantix_[a-z_]+`)

// families returns the metric families a /metrics body declares.
func families(body []byte) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			out[strings.Fields(f)[0]] = true
		}
	}
	return out
}

// checkDashboard: every query of the Grafana dashboard is valid PromQL
// that Prometheus evaluates, and names only series /metrics has (body).
func checkDashboard(t *testing.T, ps *prometheusServer, body []byte) {
	t.Helper()
	root, err := testbin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "docs", "grafana", "quantix-control-plane.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/grafana/quantix-control-plane.json is not a dashboard: %v", err)
	}
	have := families(body)
	// Grafana's variables as `quantixd dev` is scraped here.
	vars := strings.NewReplacer("$__rate_interval", "1m", "$agent_job", "quantix", "$job", "quantix")
	n, nonEmpty := 0, 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			n++
			for _, name := range metricNameRE.FindAllString(tg.Expr, -1) {
				base := name
				for _, suffix := range []string{"_bucket", "_count", "_sum"} {
					if b, ok := strings.CutSuffix(name, suffix); ok && have[b] {
						base = b
					}
				}
				if !have[base] {
					t.Errorf("panel %q: %s is not served on /metrics", p.Title, name)
				}
			}
			r, err := ps.run(vars.Replace(tg.Expr))
			if err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
				continue
			}
			if len(r.Data.Result) > 0 {
				nonEmpty++
			}
		}
	}
	if n == 0 {
		t.Fatal("the dashboard has no query")
	}
	t.Logf("the dashboard's %d queries evaluate; %d have series now", n, nonEmpty)
}

// checkMetricsDoc: docs/metrics.md names every Quantix series /metrics has.
func checkMetricsDoc(t *testing.T, body []byte) {
	t.Helper()
	root, err := testbin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range families(body) {
		if strings.HasPrefix(name, "quantix_") && !bytes.Contains(doc, []byte("`"+name+"`")) {
			t.Errorf("docs/metrics.md does not list %s", name)
		}
	}
}

// TestAgentMetricsListener: `quantixd agent` with agent.metrics_addr
// serves its own metrics there (its backend plugin's launch and calls,
// the process's), without credentials, and promtool finds nothing to lint;
// without the key it listens on nothing more.
func TestAgentMetricsListener(t *testing.T) {
	if e2e.daemonErr != nil {
		t.Fatalf("quantixd is needed: %v", e2e.daemonErr)
	}
	srv := startSimDev(t)
	token := srv.must(t, http.StatusCreated, "POST", "/api/join-tokens", `{"uses":1}`).str("token")
	dir := t.TempDir()
	addr := freeAddr(t)
	cfg := fmt.Sprintf(`log_level = "debug"
data_dir  = %q
agent {
  backend            = "sim"
  heartbeat_interval = "500ms"
  sync_jitter        = "100ms"
  metrics_addr       = %q
}
plugin "sim" {
  path = %q
  config {
    log_dir = %q
  }
}
`, dir, addr, simPlugin(t), filepath.Join(dir, "vmlogs"))
	path := filepath.Join(dir, "quantix.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := spawn(t, "agent", "-config", path, "-servers", srv.rpc, "-node-name", "metrics-agent", "-join-token", token)
	var body []byte
	wait.UntilNil(t, 30*time.Second, "the agent to serve its metrics on "+addr, func() error {
		select {
		case <-agent.done:
			b, _ := os.ReadFile(agent.log)
			t.Fatalf("quantixd agent exited (%v):\n%s", agent.err, b)
		default:
		}
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		if body, err = io.ReadAll(res.Body); err != nil {
			return err
		}
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /metrics: %s", res.Status)
		}
		if !bytes.Contains(body, []byte(`quantix_backend_call_duration_seconds_count{operation="HostInfo",plugin="sim",result="ok"}`)) {
			return errors.New("no HostInfo call timed yet")
		}
		return nil
	})
	for _, want := range []string{
		`quantix_plugin_launches_total{plugin="sim",result="ok",type="backend"} 1`,
		`quantix_plugin_relaunches_total{plugin="sim",type="backend"} 0`,
		"\n# TYPE process_resident_memory_bytes gauge",
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("the agent's /metrics lacks %s:\n%s", want, body)
		}
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		lint := exec.Command(promtool, "check", "metrics")
		lint.Stdin = bytes.NewReader(body)
		if out, err := lint.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}
	agent.stop(t)
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Error("the agent's metrics listener still answers after it stopped")
	}
}
