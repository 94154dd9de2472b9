package hookstream

import (
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	tenantA = "6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10"
	tenantB = "0b9d2c1e-7a4f-4e3b-8c2d-1f0e9d8c7b6a"
	tokLoc  = "01JPA0000000000000000000TK"
)

func validTokenCreate() *TokenCreate {
	return &TokenCreate{Name: "ci", Tenants: []string{tenantA}, Permissions: []Permission{PermWebhooksRead}}
}

func TestCreateTokenValidation(t *testing.T) {
	past := t0.Add(-time.Second)
	manyTenants := make([]string, 1001)
	for i := range manyTenants {
		manyTenants[i] = tenantA
	}
	manyPerms := make([]Permission, 65)
	for i := range manyPerms {
		manyPerms[i] = PermAll
	}
	tests := []struct {
		name   string
		mutate func(*TokenCreate)
		field  string
	}{
		{"name missing", func(r *TokenCreate) { r.Name = "" }, "name"},
		{"name 256", func(r *TokenCreate) { r.Name = strings.Repeat("n", 256) }, "name"},
		{"no tenants", func(r *TokenCreate) { r.Tenants = nil }, "tenants"},
		{"empty tenants", func(r *TokenCreate) { r.Tenants = []string{} }, "tenants"},
		{"too many tenants", func(r *TokenCreate) { r.Tenants = manyTenants }, "tenants"},
		{"tenant not a uuid", func(r *TokenCreate) { r.Tenants = []string{"acme"} }, "tenants[0]"},
		{"second tenant bad", func(r *TokenCreate) { r.Tenants = []string{tenantA, tenantB, "6f1c5f3e0d7e4c559a362a3f1b2c9d10"} }, "tenants[2]"},
		{"tenant empty", func(r *TokenCreate) { r.Tenants = []string{tenantA, ""} }, "tenants[1]"},
		{"tenant wildcard", func(r *TokenCreate) { r.Tenants = []string{"*"} }, "tenants[0]"},
		{"no permissions", func(r *TokenCreate) { r.Permissions = nil }, "permissions"},
		{"too many permissions", func(r *TokenCreate) { r.Permissions = manyPerms }, "permissions"},
		{"unknown permission", func(r *TokenCreate) { r.Permissions = []Permission{"webhooks.delete"} }, "permissions[0]"},
		{"group wildcard", func(r *TokenCreate) { r.Permissions = []Permission{PermEventsRead, "webhooks.*"} }, "permissions[1]"},
		{"wrong case", func(r *TokenCreate) { r.Permissions = []Permission{"Webhooks.Read"} }, "permissions[0]"},
		{"empty permission", func(r *TokenCreate) { r.Permissions = []Permission{PermAll, ""} }, "permissions[1]"},
		{"admin is no permission", func(r *TokenCreate) { r.Permissions = []Permission{"admin"} }, "permissions[0]"},
		{"expires in the past", func(r *TokenCreate) { r.ExpiresAt = &past }, "expiresAt"},
		{"expires now", func(r *TokenCreate) { now := t0; r.ExpiresAt = &now }, "expiresAt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := validTokenCreate()
			tt.mutate(req)
			ev, secret, err := CreateToken(tokLoc, AdminLocator, t0, req)
			wantError(t, err, CodeInvalid, tt.field)
			if ev != nil || secret != "" {
				t.Errorf("got event %v and secret %q with the error", ev, secret)
			}
		})
	}
}

func TestCreateToken(t *testing.T) {
	future := t0.Add(time.Hour)
	req := &TokenCreate{
		Name:        strings.Repeat("n", 255),
		Tenants:     []string{tenantA, tenantB, tenantA},
		Permissions: AllPermissions(),
		ExpiresAt:   &future,
	}
	req.Permissions = append(req.Permissions, PermWebhooksRead)
	ev, secret, err := CreateToken(tokLoc, AdminLocator, t0, req)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Type != TokenCreated || ev.Token != tokLoc || ev.Actor != AdminLocator || !ev.Time.Equal(t0) || ev.Create == nil {
		t.Fatalf("event = %+v", ev)
	}
	tok := ev.Create
	if !reflect.DeepEqual(tok.Tenants, []string{tenantA, tenantB}) {
		t.Errorf("tenants = %q, want duplicates removed", tok.Tenants)
	}
	if !reflect.DeepEqual(tok.Permissions, AllPermissions()) {
		t.Errorf("permissions = %q, want duplicates removed", tok.Permissions)
	}
	if tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(future) || tok.CreatedBy != AdminLocator || !tok.CreatedAt.Equal(t0) || tok.Revoked {
		t.Errorf("token = %+v", tok)
	}

	// The secret: "hst_" and the raw URL base64 of 32 random bytes.
	raw, ok := strings.CutPrefix(secret, "hst_")
	if b, err := base64.RawURLEncoding.DecodeString(raw); !ok || err != nil || len(b) != 32 {
		t.Errorf("secret %q is not hst_ + base64url of 32 bytes", secret)
	}
	if tok.Hash != HashToken(secret) || !HashesEqual(tok.Hash, HashToken(secret)) {
		t.Errorf("hash %q is not HashToken(secret)", tok.Hash)
	}

	// The secret is never in the event, not even encoded.
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{secret, raw} {
		if strings.Contains(string(b), s) {
			t.Errorf("event JSON carries the secret: %s", b)
		}
	}

	// Expiry and the other inputs are optional beyond the required ones; each token gets its own secret.
	ev2, secret2, err := CreateToken("01JPA0000000000000000000TL", "other", t0, validTokenCreate())
	if err != nil {
		t.Fatal(err)
	}
	if secret2 == secret || ev2.Create.Hash == tok.Hash || ev2.Create.ExpiresAt != nil {
		t.Errorf("second token: secret %q hash %q expiresAt %v", secret2, ev2.Create.Hash, ev2.Create.ExpiresAt)
	}

	// The event does not alias the request.
	req.Tenants[0] = "changed"
	if tok.Tenants[0] != tenantA {
		t.Errorf("token tenants alias the request")
	}
}

func TestTokenApplyAndRevoke(t *testing.T) {
	ev, secret, err := CreateToken(tokLoc, AdminLocator, t0, validTokenCreate())
	if err != nil {
		t.Fatal(err)
	}
	// Fold the event after a JSON round trip, as a replay would.
	var back TokenEvent
	if err := json.Unmarshal([]byte(mustJSON(t, ev)), &back); err != nil {
		t.Fatal(err)
	}
	var tok Token
	if err := tok.Apply(&back, 3); err != nil {
		t.Fatal(err)
	}
	if tok.Locator != tokLoc || tok.Name != "ci" || tok.Version != 3 || tok.Hash != HashToken(secret) || tok.Revoked {
		t.Fatalf("token after create = %+v", tok)
	}
	if _, err := PrincipalOf(&tok, t0.Add(100*365*24*time.Hour)); err != nil {
		t.Errorf("a token without expiry expired: %v", err)
	}

	at := t0.Add(time.Hour)
	rev, err := RevokeToken(&tok, "admin", at)
	if err != nil {
		t.Fatal(err)
	}
	if rev.Type != TokenRevoked || rev.Token != tokLoc || rev.Actor != "admin" || !rev.Time.Equal(at) || rev.Create != nil {
		t.Fatalf("revoke event = %+v", rev)
	}
	before := tok
	if err := tok.Apply(rev, 8); err != nil {
		t.Fatal(err)
	}
	if !tok.Revoked || tok.RevokedAt == nil || !tok.RevokedAt.Equal(at) || tok.Version != 8 || tok.Hash != before.Hash || tok.Name != "ci" {
		t.Fatalf("token after revoke = %+v", tok)
	}
	if before.Revoked {
		t.Errorf("Apply changed a copy taken before")
	}
	_, err = PrincipalOf(&tok, t0)
	wantError(t, err, CodeUnauthorized, "")

	_, err = RevokeToken(&tok, "admin", at)
	wantError(t, err, CodeNotFound, "")

	for _, bad := range []*TokenEvent{{Type: "token.renamed"}, {Type: ""}, {Type: TokenCreated}} {
		v := tok.Version
		if err := tok.Apply(bad, 99); err == nil {
			t.Errorf("Apply(%+v) accepted", bad)
		}
		if tok.Version != v {
			t.Errorf("a refused event changed the version")
		}
	}
}

func TestPrincipalOf(t *testing.T) {
	exp := t0.Add(time.Hour)
	revokedAt := t0
	tests := []struct {
		name string
		tok  Token
		now  time.Time
		ok   bool
	}{
		{"active, no expiry", Token{}, t0, true},
		{"before expiry", Token{ExpiresAt: &exp}, exp.Add(-time.Nanosecond), true},
		{"at expiry", Token{ExpiresAt: &exp}, exp, false},
		{"after expiry", Token{ExpiresAt: &exp}, exp.Add(time.Second), false},
		{"revoked", Token{Revoked: true, RevokedAt: &revokedAt}, t0, false},
		{"revoked and not expired", Token{Revoked: true, ExpiresAt: &exp}, t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.tok
			tok.Locator, tok.Tenants, tok.Permissions = tokLoc, []string{tenantA}, []Permission{PermEventsRead}
			p, err := PrincipalOf(&tok, tt.now)
			if !tt.ok {
				wantError(t, err, CodeUnauthorized, "")
				if p != nil {
					t.Errorf("got a principal with the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Locator != tokLoc || p.Admin || !reflect.DeepEqual(p.Tenants, []string{tenantA}) || !reflect.DeepEqual(p.Permissions, []Permission{PermEventsRead}) {
				t.Errorf("principal = %+v", p)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	reader := &Principal{Locator: "r", Tenants: []string{tenantA}, Permissions: []Permission{PermWebhooksRead, PermEventsList}}
	all := &Principal{Locator: "all", Tenants: []string{tenantA}, Permissions: []Permission{PermAll}}
	admin := &Principal{Locator: AdminLocator, Admin: true}
	none := &Principal{Locator: "n", Tenants: []string{tenantA}}
	tests := []struct {
		name   string
		p      *Principal
		tenant string
		perms  []Permission
		ok     bool
	}{
		{"has permission and tenant", reader, tenantA, []Permission{PermWebhooksRead}, true},
		{"one of several permissions", reader, tenantA, []Permission{PermWebhooksWrite, PermEventsList}, true},
		{"missing permission", reader, tenantA, []Permission{PermWebhooksWrite}, false},
		{"read is not list", reader, tenantA, []Permission{PermWebhooksList}, false},
		{"other tenant", reader, tenantB, []Permission{PermWebhooksRead}, false},
		{"tenant in other case", reader, strings.ToUpper(tenantA), []Permission{PermWebhooksRead}, false},
		{"empty tenant", reader, "", []Permission{PermWebhooksRead}, false},
		{"star grants every permission", all, tenantA, []Permission{PermDivertedDelete}, true},
		{"star grants no other tenant", all, tenantB, []Permission{PermWebhooksRead}, false},
		{"admin on any tenant", admin, tenantB, []Permission{PermEventsWrite}, true},
		{"admin on another", admin, "0b9d2c1e-0000-4e3b-8c2d-1f0e9d8c7b6a", []Permission{PermDivertedResend}, true},
		{"no permissions at all", none, tenantA, []Permission{PermEventsRead}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Authorize(tt.tenant, tt.perms...)
			if tt.ok {
				if err != nil {
					t.Fatalf("Authorize: %v", err)
				}
				return
			}
			wantError(t, err, CodeForbidden, "")
		})
	}
	if !all.Has(PermEventsWrite) || !admin.Has(PermWebhooksWrite) || reader.Has(PermWebhooksWrite) || none.Has(PermEventsRead) {
		t.Errorf("Has disagrees with Authorize")
	}
}

func TestHashToken(t *testing.T) {
	// SHA-256 of "abc" (FIPS 180-2 test vector), hex.
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashToken(abc) = %q", got)
	}
	if HashToken("hst_a") == HashToken("hst_b") {
		t.Errorf("different secrets hash the same")
	}
	h := HashToken("hst_x")
	tests := []struct {
		a, b string
		want bool
	}{
		{h, h, true},
		{h, HashToken("hst_x"), true},
		{h, HashToken("hst_y"), false},
		{h, h[:len(h)-1], false},
		{h, strings.ToUpper(h), false},
		{h, "", false},
		{"", h, false},
	}
	for _, tt := range tests {
		if got := HashesEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("HashesEqual(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestAdminToken(t *testing.T) {
	a, b := NewAdminToken(), NewAdminToken()
	if !strings.HasPrefix(a, "hsa_") || a == b || CheckAdminToken(a) != nil {
		t.Errorf("NewAdminToken = %q, %q", a, b)
	}
	if CheckAdminToken("") == nil || WeakAdminToken(a) {
		t.Errorf("an empty admin token was accepted, or a generated one called weak")
	}
	if CheckAdminToken("dev") != nil || !WeakAdminToken(strings.Repeat("x", 15)) || WeakAdminToken(strings.Repeat("x", 16)) {
		t.Errorf("a short admin token is accepted and called weak below 16 characters")
	}
}
