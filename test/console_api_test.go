package test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// attemptsPage is a page of GET .../webhooks/{locator}/attempts.
type attemptsPage struct {
	PagingToken string `json:"pagingToken"`
	HasMore     bool   `json:"hasMore"`
	Attempts    []struct {
		Locator string `json:"locator"`
		Status  string `json:"status"`
		Event   string `json:"event"`
	} `json:"attempts"`
}

// refusal checks r is a 400 naming field.
func refusal(t *testing.T, r response, field string) {
	t.Helper()
	expect(t, r, http.StatusBadRequest)
	if m := r.object(t); m["field"] != field || m["code"] != "invalid" {
		t.Fatalf("error %s, want field %q", r.body, field)
	}
}

func TestWebhookAttemptsAndStatsRoutes(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	loc := h.createWebhook(tenantA, webhookBody("pages", rc.url("/p"), nil))
	for i := range 5 {
		h.publishHTTP(tenantA, "page.turned", map[string]any{"n": i})
	}
	rc.waitFor(t, 5, 15*time.Second)
	base := wpath(tenantA, "/"+loc)
	eventually(t, 10*time.Second, "five attempts listed", func() bool {
		var p attemptsPage
		h.must(http.StatusOK, http.MethodGet, base+"/attempts?status=SUCCESS", adminToken, nil).json(t, &p)
		return len(p.Attempts) == 5
	})

	t.Run("paging", func(t *testing.T) {
		seen := map[string]bool{}
		q := "?pageSize=2"
		for page := 0; ; page++ {
			var p attemptsPage
			h.must(http.StatusOK, http.MethodGet, base+"/attempts"+q, adminToken, nil).json(t, &p)
			if p.PagingToken == "" {
				t.Fatal("a page without a paging token")
			}
			for _, a := range p.Attempts {
				if seen[a.Locator] || a.Status != "SUCCESS" {
					t.Fatalf("attempt %+v repeated or not a success", a)
				}
				seen[a.Locator] = true
			}
			if !p.HasMore {
				break
			}
			if page > 5 {
				t.Fatal("paging does not end")
			}
			q = "?pagingToken=" + url.QueryEscape(p.PagingToken)
		}
		if len(seen) != 5 {
			t.Fatalf("pages held %d attempts, want 5", len(seen))
		}
		var p attemptsPage
		h.must(http.StatusOK, http.MethodGet, base+"/attempts?status=FAILED", adminToken, nil).json(t, &p)
		if len(p.Attempts) != 0 {
			t.Fatalf("FAILED filter kept %d attempts", len(p.Attempts))
		}
		future := url.QueryEscape(time.Now().Add(time.Hour).Format(time.RFC3339))
		h.must(http.StatusOK, http.MethodGet, base+"/attempts?startTimestamp="+future, adminToken, nil).json(t, &p)
		if len(p.Attempts) != 0 {
			t.Fatalf("a start in the future kept %d attempts", len(p.Attempts))
		}
	})

	t.Run("stats", func(t *testing.T) {
		for window, buckets := range map[string]int{"1h": 60, "24h": 96} {
			var st struct {
				Window        string `json:"window"`
				BucketSeconds int    `json:"bucketSeconds"`
				Total         struct {
					Success     int      `json:"success"`
					Failed      int      `json:"failed"`
					SuccessRate *float64 `json:"successRate"`
					P50         *float64 `json:"p50Ms"`
					P99         *float64 `json:"p99Ms"`
				} `json:"total"`
				Buckets []struct {
					Success int `json:"success"`
				} `json:"buckets"`
			}
			h.must(http.StatusOK, http.MethodGet, base+"/stats?window="+window, adminToken, nil).json(t, &st)
			sum := 0
			for _, b := range st.Buckets {
				sum += b.Success
			}
			if st.Window != window || len(st.Buckets) != buckets || st.Total.Success != 5 || sum != 5 || st.Total.Failed != 0 ||
				st.Total.SuccessRate == nil || *st.Total.SuccessRate != 1 || st.Total.P50 == nil || st.Total.P99 == nil || *st.Total.P99 < *st.Total.P50 {
				t.Fatalf("window %s: %+v", window, st)
			}
		}
		var ts struct {
			Events   int `json:"events"`
			Webhooks int `json:"webhooks"`
			Attempts struct {
				Success int `json:"success"`
			} `json:"attempts"`
			PerWebhook []struct {
				Locator string `json:"locator"`
				Success int    `json:"success"`
			} `json:"perWebhook"`
		}
		h.must(http.StatusOK, http.MethodGet, "/event/"+tenantA+"/stats", adminToken, nil).json(t, &ts)
		if ts.Events != 5 || ts.Webhooks != 1 || ts.Attempts.Success != 5 || len(ts.PerWebhook) != 1 || ts.PerWebhook[0].Locator != loc {
			t.Fatalf("tenant stats: %+v", ts)
		}
	})

	t.Run("bad input names the field", func(t *testing.T) {
		for _, tc := range []struct{ path, field string }{
			{"/attempts?status=DONE", "status"},
			{"/attempts?status=success", "status"},
			{"/attempts?startTimestamp=yesterday", "startTimestamp"},
			{"/attempts?endTimestamp=2026-13-01T00:00:00Z", "endTimestamp"},
			{"/attempts?startTimestamp=2026-01-02T00:00:00Z&endTimestamp=2026-01-01T00:00:00Z", "endTimestamp"},
			{"/attempts?pageSize=0", "pageSize"},
			{"/attempts?pageSize=1001", "pageSize"},
			{"/attempts?pageSize=ten", "pageSize"},
			{"/attempts?pagingToken=not-a-token", "pagingToken"},
			{"/attempts?pagingToken=eyJ4IjoxfQ", "pagingToken"},
			{"/stats?window=2h", "window"},
			{"/stats?window=", "window"},
		} {
			refusal(t, h.do(http.MethodGet, base+tc.path, adminToken, nil), tc.field)
		}
		refusal(t, h.do(http.MethodGet, "/event/"+tenantA+"/stats?window=7d", adminToken, nil), "window")
		refusal(t, h.do(http.MethodGet, "/event/not-a-uuid/stats", adminToken, nil), "tenantLocator")
		refusal(t, h.do(http.MethodGet, wpath(tenantA, "/bad!loc/attempts"), adminToken, nil), "webhookLocator")
		expect(t, h.do(http.MethodGet, wpath(tenantA, "/01M8X3CSZH7TANFP2S9C3X8EDP/attempts"), adminToken, nil), http.StatusNotFound)
		expect(t, h.do(http.MethodGet, wpath(tenantB, "/"+loc+"/stats"), adminToken, nil), http.StatusNotFound)
	})

	t.Run("permissions", func(t *testing.T) {
		webhooksOnly, _ := h.mintToken([]string{tenantA}, "webhooks.read", "webhooks.list")
		eventsOnly, _ := h.mintToken([]string{tenantA}, "events.list")
		reader, _ := h.mintToken([]string{tenantA}, "events.read", "webhooks.list")
		other, _ := h.mintToken([]string{tenantB}, "*")
		for _, tc := range []struct {
			path, token string
			want        int
		}{
			{base + "/attempts", "", http.StatusUnauthorized},
			{base + "/attempts", "nope", http.StatusUnauthorized},
			{base + "/attempts", webhooksOnly, http.StatusForbidden},
			{base + "/stats", webhooksOnly, http.StatusForbidden},
			{base + "/attempts", other, http.StatusForbidden},
			{base + "/attempts", eventsOnly, http.StatusOK},
			{base + "/stats", reader, http.StatusOK},
			{"/event/" + tenantA + "/stats", webhooksOnly, http.StatusForbidden},
			{"/event/" + tenantA + "/stats", eventsOnly, http.StatusForbidden},
			{"/event/" + tenantA + "/stats", reader, http.StatusOK},
			{"/event/" + tenantA + "/stats", other, http.StatusForbidden},
			{"/admin/health", reader, http.StatusForbidden},
			{"/admin/health", "", http.StatusUnauthorized},
			{"/whoami", "", http.StatusUnauthorized},
		} {
			r := h.do(http.MethodGet, tc.path, tc.token, nil)
			if r.status != tc.want {
				t.Errorf("GET %s with %q: %d, want %d: %s", tc.path, tc.token, r.status, tc.want, r.body)
			}
		}
	})

	t.Run("whoami and health", func(t *testing.T) {
		var who struct {
			Admin       bool     `json:"admin"`
			Tenants     []string `json:"tenants"`
			Permissions []string `json:"permissions"`
		}
		h.must(http.StatusOK, http.MethodGet, "/whoami", adminToken, nil).json(t, &who)
		if !who.Admin || fmt.Sprint(who.Permissions) != "[*]" {
			t.Fatalf("admin whoami: %+v", who)
		}
		tok, _ := h.mintToken([]string{tenantA, tenantB}, "events.read", "webhooks.list")
		h.must(http.StatusOK, http.MethodGet, "/whoami", tok, nil).json(t, &who)
		if who.Admin || len(who.Tenants) != 2 || fmt.Sprint(who.Permissions) != "[events.read webhooks.list]" {
			t.Fatalf("token whoami: %+v", who)
		}
		var hs struct {
			Ready     bool                          `json:"ready"`
			Views     map[string]float64            `json:"views"`
			Consumers map[string]map[string]float64 `json:"consumers"`
		}
		h.must(http.StatusOK, http.MethodGet, "/admin/health", adminToken, nil).json(t, &hs)
		if _, ok := hs.Views["attempts"]; !hs.Ready || !ok || hs.Consumers["router"] == nil {
			t.Fatalf("health: %+v", hs)
		}
	})
}
