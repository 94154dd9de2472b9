package test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

type batchAnswer struct {
	Results []struct {
		eventJSON
		Error *struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	} `json:"results"`
}

func TestBatchIngest(t *testing.T) {
	h := startEngine(t)
	rc := newReceiver(t)
	h.createWebhook(tenantA, webhookBody("all", rc.url("/all"), nil))
	batch := `{"events":[
		{"type":"policy.issue","data":{"n":0},"requestId":"r-0"},
		{"type":"bad type","data":{"n":1}},
		{"type":"policy.issue","data":{"n":2}},
		{"type":"policy.issue","data":[3]},
		{"type":"policy.cancel","data":{"n":4}},
		{"type":"policy.issue","data":{},"extra":5},
		"not an event"
	]}`
	send := func(key string) batchAnswer {
		t.Helper()
		header := []string{"Authorization", "Bearer " + adminToken}
		if key != "" {
			header = append(header, "Idempotency-Key", key)
		}
		var a batchAnswer
		expect(t, h.doHeader(http.MethodPost, "/event/"+tenantA+"/events/batch", batch, header...), http.StatusAccepted).json(t, &a)
		return a
	}
	first := send("k-1")
	if len(first.Results) != 7 {
		t.Fatalf("%d results for 7 events", len(first.Results))
	}
	wantErr := map[int]string{1: "events[1].type", 3: "events[3].data", 5: "events[5].extra", 6: "events[6]"}
	var stored []string
	for i, r := range first.Results {
		if field, bad := wantErr[i]; bad {
			if r.Error == nil || r.Error.Field != field || r.Error.Code != "invalid" || r.Error.Message == "" || r.Locator != "" {
				t.Errorf("event %d: %+v, want an invalid error naming %s", i, r, field)
			}
			continue
		}
		if r.Error != nil || r.Locator == "" || r.Tenant != tenantA || string(r.Data) != fmt.Sprintf(`{"n":%d}`, i) {
			t.Fatalf("event %d: %+v %+v, want it stored", i, r.eventJSON, r.Error)
		}
		// A 202 means stored: each event reads back at once.
		var got eventJSON
		h.must(http.StatusOK, http.MethodGet, "/event/"+tenantA+"/events/"+r.Locator, adminToken, nil).json(t, &got)
		if got.Locator != r.Locator || !got.Timestamp.Equal(r.Timestamp) || got.Type != r.Type || got.RequestID != r.RequestID {
			t.Fatalf("event %d reads back as %+v, answered %+v", i, got, r.eventJSON)
		}
		stored = append(stored, r.Locator)
	}
	if first.Results[0].RequestID != "r-0" {
		t.Fatalf("requestId %q", first.Results[0].RequestID)
	}

	// The same key again: every event is the first batch's, none stored twice.
	again := send("k-1")
	for i, r := range again.Results {
		if r.Locator != first.Results[i].Locator {
			t.Fatalf("repeat of event %d gave %q, first %q", i, r.Locator, first.Results[i].Locator)
		}
	}
	// A single event with a key shaped like a batch event's does not take its place.
	single := h.do(http.MethodPost, "/event/"+tenantA+"/events", adminToken, `{"type":"policy.issue","data":{"n":0}}`)
	if single.status != http.StatusAccepted || slices.Contains(stored, decodeEvent(t, single.body).Locator) {
		t.Fatalf("single event: %d %s", single.status, single.body)
	}
	stored = append(stored, decodeEvent(t, single.body).Locator)

	got := rc.waitFor(t, len(stored), 10*time.Second)
	var delivered []string
	for _, r := range got {
		delivered = append(delivered, decodeEvent(t, r.body).Locator)
	}
	slices.Sort(delivered)
	want := slices.Clone(stored)
	slices.Sort(want)
	if !slices.Equal(delivered, want) {
		t.Fatalf("delivered %v, want each stored event once: %v", delivered, want)
	}

	// Listed in the order given.
	var page struct {
		Events []eventJSON `json:"events"`
	}
	h.must(http.StatusOK, http.MethodGet, "/event/"+tenantA+"/events/list", adminToken, nil).json(t, &page)
	var listed []string
	for _, e := range page.Events {
		listed = append(listed, e.Locator)
	}
	if !slices.Equal(listed, stored) {
		t.Fatalf("listed %v, want %v", listed, stored)
	}
}

func TestBatchIngestRefusals(t *testing.T) {
	h := startEngine(t)
	reader, _ := h.mintToken([]string{tenantA}, "events.read")
	writerB, _ := h.mintToken([]string{tenantB}, "events.write")
	one := `{"type":"a.b","data":{"x":1}}`
	events := func(n int) string { return `{"events":[` + strings.Repeat(one+",", n-1) + one + `]}` }
	path := "/event/" + tenantA + "/events/batch"
	for _, tc := range []struct {
		name, token, body string
		status            int
		field             string
	}{
		{"too many events", adminToken, events(1001), 400, "events"},
		{"no events", adminToken, `{"events":[]}`, 400, "events"},
		{"no events field", adminToken, `{}`, 400, "events"},
		{"events not an array", adminToken, `{"events":{"type":"a"}}`, 400, "events"},
		{"unknown field", adminToken, `{"events":[` + one + `],"more":1}`, 400, "more"},
		{"malformed", adminToken, `{"events":[` + one, 400, "body"},
		{"over the size limit", adminToken, `{"events":["` + strings.Repeat("x", 9<<20) + `"]}`, 413, "body"},
		{"without events.write", reader, events(1), 403, ""},
		{"another tenant's token", writerB, events(1), 403, ""},
		{"no token", "", events(1), 401, ""},
	} {
		r := h.do(http.MethodPost, path, tc.token, tc.body)
		if r.status != tc.status || (tc.field != "" && r.object(t)["field"] != tc.field) {
			t.Errorf("%s: %d %.200s, want %d naming %q", tc.name, r.status, r.body, tc.status, tc.field)
		}
	}
	h.must(http.StatusBadRequest, http.MethodPost, "/event/not-a-tenant/events/batch", adminToken, events(1))
	// Nothing refused was stored; a full batch is accepted.
	var page struct {
		Events []eventJSON `json:"events"`
	}
	h.must(http.StatusOK, http.MethodGet, "/event/"+tenantA+"/events/list", adminToken, nil).json(t, &page)
	if len(page.Events) != 0 {
		t.Fatalf("refused batches stored %d events", len(page.Events))
	}
	var full batchAnswer
	h.must(http.StatusAccepted, http.MethodPost, path, adminToken, events(1000)).json(t, &full)
	for i, r := range full.Results {
		if r.Error != nil || r.Locator == "" {
			t.Fatalf("event %d of a full batch: %+v", i, r)
		}
	}
}
