package test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func (h *harness) rawReq(method, path string, body []byte, header ...string) (int, string, http.Header) {
	req, err := http.NewRequest(method, h.base+path, bytes.NewReader(body))
	if err != nil {
		return -1, err.Error(), nil
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return -2, err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestExploreHostile(t *testing.T) {
	h := startEngine(t)
	loc := h.createWebhook(tenantA, webhookBody("ok", "https://example.com/ok", nil))
	tok, _ := h.mintToken([]string{tenantA}, "*")
	auth := []string{"Authorization", "Bearer " + adminToken}
	for _, c := range []struct{ m, p, b string }{
		{"PATCH", wpath(tenantA, "/"+loc), "null"},
		{"PATCH", wpath(tenantA, "/"+loc), "{}"},
		{"POST", "/v1/simulate/event_subscriptions/" + loc + "/send_example", "null"},
		{"GET", wpath(tenantA, "/list?count=%zz"), ""},
		{"GET", wpath(tenantA, "/list?eventTypes=%zz"), ""},
		{"GET", wpath(tenantA, "/%zz"), ""},
		{"GET", "/event/%zz/webhooks/list", ""},
		{"GET", wpath(tenantA, "/"+strings.Repeat("A", 5000)), ""},
		{"GET", "/event/" + strings.Repeat("A", 5000) + "/webhooks/list", ""},
		{"GET", "/v1/events/" + strings.Repeat("A", 5000), ""},
		{"GET", "/event/" + tenantA + "/events/list?pagingToken=" + strings.Repeat("A", 5000), ""},
		{"GET", "/event/" + tenantA + "/events/list?pagingToken=bnVsbA", ""},
		{"GET", "/event/" + tenantA + "/events/list?pagingToken=eyJhIjotMX0", ""},
		{"GET", "/event/" + tenantA + "/events/list?pagingToken=e30", ""},
		{"GET", "/event/" + tenantA + "/events/list?startTimestamp=2026-01-02T00:00:00Z&endTimestamp=2020-01-01T00:00:00Z", ""},
		{"POST", "/v1/event_subscriptions", `{"URL":"https://example.com/x"}`},
		{"PATCH", wpath(tenantA, "/"+loc+"/unsuspend"), "garbage"},
		{"POST", wpath(tenantA, ""), strings.Repeat("x", 8<<20)},
	} {
		hdr := auth
		if strings.HasPrefix(c.p, "/v1") {
			hdr = []string{"Authorization", tok}
		}
		st, body, _ := h.rawReq(c.m, c.p, []byte(c.b), hdr...)
		fmt.Printf("%s %.120s -> %d %.300s\n", c.m, c.p, st, body)
	}
	for _, line := range []string{"GET /event/%zz/webhooks/list HTTP/1.1", "GET " + wpath(tenantA, "/%zz") + " HTTP/1.1", "GET /v1/events/%zz HTTP/1.1", "GET /v1/events?begin=%zz HTTP/1.1"} {
		c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "%s\r\nHost: x\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", line, adminToken)
		b, _ := io.ReadAll(c)
		c.Close()
		fmt.Printf("RAW %s -> %q\n", line, b)
	}
	fmt.Println(h.must(200, "GET", wpath(tenantA, "/"+loc+"/history"), adminToken, nil).body)
}
