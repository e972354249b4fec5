package webhook_test

import (
	"strings"
	"testing"

	"github.com/quantixvm/quantix/plugins/logsinks/webhook"
	"github.com/quantixvm/quantix/sdk/plugin"
)

func TestParseConfig(t *testing.T) {
	cfg, err := webhook.ParseConfig([]byte(`{"url":"https://logs.example.com/in"}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Timeout != "10s" || cfg.MaxRetries != 3 || cfg.Backoff != "500ms" || cfg.MaxBackoff != "10s" {
		t.Errorf("defaults: %+v", cfg)
	}
	if _, err := webhook.ParseConfig([]byte(`{"url":"http://127.0.0.1:9/x","headers":{"Authorization":"Bearer x"},"secret":"s","max_retries":0}`)); err != nil {
		t.Errorf("a full config: %v", err)
	}
	bad := []struct {
		name, raw, field, msg string
	}{
		{"no url", `{}`, "url", "is required"},
		{"not http", `{"url":"ftp://h/x"}`, "url", "want an http or https URL"},
		{"no host", `{"url":"http:///x"}`, "url", "want an http or https URL"},
		{"unknown attribute", `{"url":"http://h","retries":3}`, "retries", `unknown attribute "retries"`},
		{"bad timeout", `{"url":"http://h","timeout":"10"}`, "timeout", "positive duration"},
		{"bad backoff", `{"url":"http://h","backoff":"-1s"}`, "backoff", "positive duration"},
		{"max_backoff below backoff", `{"url":"http://h","backoff":"2s","max_backoff":"1s"}`, "max_backoff", "less than backoff"},
		{"too many retries", `{"url":"http://h","max_retries":11}`, "max_retries", "want 0 to 10"},
		{"negative retries", `{"url":"http://h","max_retries":-1}`, "max_retries", "want 0 to 10"},
		{"reserved header", `{"url":"http://h","headers":{"x-quantix-signature":"forged"}}`, "headers.x-quantix-signature", "set by the sink"},
		{"content type", `{"url":"http://h","headers":{"Content-Type":"text/plain"}}`, "headers.Content-Type", "set by the sink"},
		{"bad header name", `{"url":"http://h","headers":{"Bad Name":"x"}}`, "headers.Bad Name", "not a valid header name"},
		{"header injection", `{"url":"http://h","headers":{"X-A":"a\r\nX-B: b"}}`, "headers.X-A", "line breaks"},
		{"headers not strings", `{"url":"http://h","headers":{"X-A":1}}`, "headers", `attribute "headers" must be string`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := webhook.ParseConfig([]byte(tc.raw))
			if plugin.KindOf(err) != plugin.KindInvalidArgument || plugin.FieldOf(err) != tc.field {
				t.Fatalf("ParseConfig(%s) = %v (kind %s, field %q), want an invalid argument naming %q", tc.raw, err, plugin.KindOf(err), plugin.FieldOf(err), tc.field)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}
