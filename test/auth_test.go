package test

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hookstream/hookstream/config"
)

func TestAuthStatusCodes(t *testing.T) {
	h := startEngine(t)
	loc := h.createWebhook(tenantA, webhookBody("a", "https://example.com/a", nil))
	locB := h.createWebhook(tenantB, webhookBody("b", "https://example.com/b", nil))

	reader, _ := h.mintToken([]string{tenantA}, "webhooks.read")
	writerB, _ := h.mintToken([]string{tenantB}, "webhooks.write", "webhooks.read")
	star, _ := h.mintToken([]string{tenantA}, "*")

	cases := []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		want   int
	}{
		{"no token", http.MethodGet, wpath(tenantA, "/"+loc), "", nil, 401},
		{"unknown token", http.MethodGet, wpath(tenantA, "/"+loc), "hst_not_a_real_token", nil, 401},
		{"reader may read", http.MethodGet, wpath(tenantA, "/"+loc), reader, nil, 200},
		{"reader may list (read implies list)", http.MethodGet, wpath(tenantA, "/list"), reader, nil, 200},
		{"reader may not write", http.MethodPatch, wpath(tenantA, "/"+loc), reader, map[string]any{"name": "x"}, 403},
		{"reader may not create", http.MethodPost, wpath(tenantA, ""), reader, webhookBody("x", "https://example.com", nil), 403},
		{"other tenant's token", http.MethodGet, wpath(tenantA, "/"+loc), writerB, nil, 403},
		{"locator of another tenant", http.MethodGet, wpath(tenantB, "/"+loc), writerB, nil, 404},
		{"own tenant ok", http.MethodGet, wpath(tenantB, "/"+locB), writerB, nil, 200},
		{"star permission", http.MethodPatch, wpath(tenantA, "/"+loc), star, map[string]any{"name": "y"}, 200},
		{"star token, other tenant", http.MethodGet, wpath(tenantB, "/"+locB), star, nil, 403},
		{"non-admin on admin route", http.MethodGet, "/admin/tokens", star, nil, 403},
		{"no token on admin route", http.MethodGet, "/admin/tokens", "", nil, 401},
		{"bad tenant uuid", http.MethodGet, wpath("not-a-uuid", "/"+loc), adminToken, nil, 400},
		{"bad webhook locator", http.MethodGet, wpath(tenantA, "/not-a-ulid"), adminToken, nil, 400},
		{"unknown webhook", http.MethodGet, wpath(tenantA, "/01J00000000000000000000000"), adminToken, nil, 404},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(tc.method, tc.path, tc.token, tc.body)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			if r.status >= 400 {
				m := r.object(t)
				if m["message"] == "" || m["code"] == "" {
					t.Fatalf("error body lacks code/message: %s", r.body)
				}
			}
		})
	}

	// The Lithic SDK sends the bare token, without "Bearer".
	req, _ := http.NewRequest(http.MethodGet, h.base+wpath(tenantA, "/"+loc), nil)
	req.Header.Set("Authorization", reader)
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("bare token: status %d", resp.StatusCode)
	}
}

func TestTokensAreHashedAndRevokedAtOnce(t *testing.T) {
	h := startEngine(t)
	secret, tokLoc := h.mintToken([]string{tenantA}, "webhooks.write", "webhooks.read")
	h.must(http.StatusOK, http.MethodPost, wpath(tenantA, ""), secret, webhookBody("by token", "https://example.com/t", nil))

	list := h.must(http.StatusOK, http.MethodGet, "/admin/tokens", adminToken, nil)
	if strings.Contains(string(list.body), secret) || strings.Contains(string(list.body), `"token"`) {
		t.Fatalf("token list shows the secret: %s", list.body)
	}
	if !strings.Contains(string(list.body), tokLoc) {
		t.Fatalf("token list lacks %s: %s", tokLoc, list.body)
	}

	// Changes record the token's locator as their actor.
	var wl struct {
		Items []struct {
			Locator string `json:"locator"`
		} `json:"items"`
	}
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list"), adminToken, nil).json(t, &wl)
	hist := h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/"+wl.Items[0].Locator+"/history"), adminToken, nil)
	if !strings.Contains(string(hist.body), `"actor":"`+tokLoc+`"`) {
		t.Fatalf("history actor is not the token locator: %s", hist.body)
	}

	h.must(http.StatusNoContent, http.MethodDelete, "/admin/tokens/"+tokLoc, adminToken, nil)
	h.must(http.StatusUnauthorized, http.MethodGet, wpath(tenantA, "/list"), secret, nil)
	h.must(http.StatusNotFound, http.MethodDelete, "/admin/tokens/"+tokLoc, adminToken, nil)
	h.must(http.StatusBadRequest, http.MethodDelete, "/admin/tokens/nope", adminToken, nil)

	// Expired tokens are refused.
	r := h.must(http.StatusCreated, http.MethodPost, "/admin/tokens", adminToken, map[string]any{
		"name": "short", "tenants": []string{tenantA}, "permissions": []string{"webhooks.read"},
		"expiresAt": time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano),
	})
	short := r.object(t)["token"].(string)
	h.must(http.StatusOK, http.MethodGet, wpath(tenantA, "/list"), short, nil)
	eventually(t, 5*time.Second, "token expiry", func() bool {
		return h.do(http.MethodGet, wpath(tenantA, "/list"), short, nil).status == http.StatusUnauthorized
	})

	// Bad token requests name the field.
	for body, field := range map[string]string{
		`{"name":"x","tenants":["nope"],"permissions":["webhooks.read"]}`:      "tenants[0]",
		`{"name":"x","tenants":["` + tenantA + `"],"permissions":["root"]}`:    "permissions[0]",
		`{"tenants":["` + tenantA + `"],"permissions":["webhooks.read"]}`:      "name",
		`{"name":"x","tenants":["` + tenantA + `"],"permissions":[],"x":true}`: "x",
	} {
		r := h.must(http.StatusBadRequest, http.MethodPost, "/admin/tokens", adminToken, body)
		if got := r.object(t)["field"]; got != field {
			t.Errorf("body %s: field %v, want %s", body, got, field)
		}
	}

	// Neither the stream store nor the views file holds a token secret in the clear.
	h.stop()
	err := filepath.Walk(h.cfg.Data, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(data, []byte(secret)) || bytes.Contains(data, []byte(short)) {
			t.Errorf("%s holds a token secret in the clear", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(h.logs.String(), secret) || strings.Contains(h.logs.String(), adminToken) {
		t.Fatal("a token appears in the logs")
	}
}

func TestAdminTokenGeneratedOnFirstStart(t *testing.T) {
	h := startEngine(t, func(c *config.Config) { c.AdminToken = "" })
	path := filepath.Join(h.cfg.Data, "admin-token")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no generated admin token file: %v", err)
	}
	token := strings.TrimSpace(string(data))
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file mode %v, want 0600", info.Mode().Perm())
	}
	h.must(http.StatusOK, http.MethodGet, "/admin/tokens", token, nil)
	h.restart()
	h.must(http.StatusOK, http.MethodGet, "/admin/tokens", token, nil)
	if strings.Contains(h.logs.String(), token) {
		t.Fatal("the generated admin token was logged")
	}
	if !strings.Contains(h.logs.String(), path) {
		t.Fatal("the log does not say where the admin token is")
	}
}
