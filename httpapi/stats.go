package httpapi

import (
	"net/http"
	"slices"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/projections"
)

// statsWindow is a window the statistics routes accept and the width of its buckets.
type statsWindow struct {
	name   string
	length time.Duration
	bucket time.Duration
}

// statsWindows lists the windows: an hour by the minute, a day by the quarter hour.
func statsWindows() []statsWindow {
	return []statsWindow{
		{name: "1h", length: time.Hour, bucket: time.Minute},
		{name: "24h", length: 24 * time.Hour, bucket: 15 * time.Minute},
	}
}

func queryWindow(r *request) (statsWindow, error) {
	s, ok := single(r.URL.Query(), "window")
	if !ok {
		return statsWindows()[0], nil
	}
	for _, w := range statsWindows() {
		if w.name == s {
			return w, nil
		}
	}
	return statsWindow{}, hookstream.Invalid("window", "must be 1h or 24h")
}

// outcomeCounts counts attempts by status, with latency percentiles over the attempts that ended.
type outcomeCounts struct {
	Success int `json:"success"`
	Failed  int `json:"failed"`
	Pending int `json:"pending"`
	// SuccessRate is Success over Success+Failed; null when nothing ended.
	SuccessRate *float64 `json:"successRate"`
	P50Ms       *float64 `json:"p50Ms"`
	P99Ms       *float64 `json:"p99Ms"`

	latencies []float64
}

func (c *outcomeCounts) add(a *hookstream.Attempt) {
	switch a.Status {
	case hookstream.AttemptSuccess:
		c.Success++
	case hookstream.AttemptFailed:
		c.Failed++
	default:
		c.Pending++
		return
	}
	c.latencies = append(c.latencies, a.LatencyMs)
}

// finish computes the rate and percentiles (nearest rank).
func (c *outcomeCounts) finish() {
	if ended := c.Success + c.Failed; ended > 0 {
		rate := float64(c.Success) / float64(ended)
		c.SuccessRate = &rate
	}
	if len(c.latencies) == 0 {
		return
	}
	slices.Sort(c.latencies)
	rank := func(p float64) *float64 {
		i := int(p*float64(len(c.latencies))+0.999999) - 1
		v := c.latencies[max(0, min(i, len(c.latencies)-1))]
		return &v
	}
	c.P50Ms, c.P99Ms = rank(0.50), rank(0.99)
	c.latencies = nil
}

type statsBucket struct {
	Start time.Time `json:"start"`
	outcomeCounts
}

// webhookStatsResponse is a webhook's attempts over a window, in total and in buckets of equal width, oldest
// first, by creation time.
type webhookStatsResponse struct {
	Window        string        `json:"window"`
	Start         time.Time     `json:"start"`
	End           time.Time     `json:"end"`
	BucketSeconds int           `json:"bucketSeconds"`
	Total         outcomeCounts `json:"total"`
	Buckets       []statsBucket `json:"buckets"`
}

func (a *API) webhookStats(w http.ResponseWriter, r *request) error {
	loc, err := webhookLocator(r)
	if err != nil {
		return err
	}
	win, err := queryWindow(r)
	if err != nil {
		return err
	}
	if _, err := a.webhooks.Get(r.tenant, loc); err != nil {
		return err
	}
	// Buckets are aligned to their width so that successive polls agree on their edges.
	end := a.auth.now().UTC().Truncate(win.bucket).Add(win.bucket)
	start := end.Add(-win.length)
	resp := webhookStatsResponse{Window: win.name, Start: start, End: end, BucketSeconds: int(win.bucket / time.Second),
		Buckets: make([]statsBucket, win.length/win.bucket)}
	for i := range resp.Buckets {
		resp.Buckets[i].Start = start.Add(time.Duration(i) * win.bucket)
	}
	err = a.attempts.EachSince(r.tenant, loc, start, func(at *hookstream.Attempt) {
		i := int(at.Created.Sub(start) / win.bucket)
		if i < 0 || i >= len(resp.Buckets) {
			return
		}
		resp.Total.add(at)
		resp.Buckets[i].add(at)
	})
	if err != nil {
		return err
	}
	resp.Total.finish()
	for i := range resp.Buckets {
		resp.Buckets[i].finish()
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// webhookSummary is one webhook's line in the tenant's statistics.
type webhookSummary struct {
	Locator   string `json:"locator"`
	Name      string `json:"name"`
	Enabled   bool   `json:"enabled"`
	Suspended bool   `json:"suspended"`
	outcomeCounts
	Diverted    int                 `json:"diverted"`
	LastFailure *hookstream.Attempt `json:"lastFailure"`
}

// tenantStatsResponse is a tenant's activity over a window: events ingested, attempts by outcome over every
// webhook, and per webhook.
type tenantStatsResponse struct {
	Window     string           `json:"window"`
	Start      time.Time        `json:"start"`
	End        time.Time        `json:"end"`
	Events     int              `json:"events"`
	Attempts   outcomeCounts    `json:"attempts"`
	Webhooks   int              `json:"webhooks"`
	Suspended  int              `json:"suspended"`
	Disabled   int              `json:"disabled"`
	Diverted   int              `json:"diverted"`
	PerWebhook []webhookSummary `json:"perWebhook"`
}

// maxStatsWebhooks bounds the webhooks one tenant statistics answer covers.
const maxStatsWebhooks = 1000

func (a *API) tenantStats(w http.ResponseWriter, r *request) error {
	win, err := queryWindow(r)
	if err != nil {
		return err
	}
	if !r.principal.Has(hookstream.PermWebhooksList, hookstream.PermWebhooksRead) {
		return hookstream.Forbidden("token lacks permission %s or %s", hookstream.PermWebhooksList, hookstream.PermWebhooksRead)
	}
	end := a.auth.now().UTC()
	start := end.Add(-win.length)
	resp := tenantStatsResponse{Window: win.name, Start: start, End: end, PerWebhook: []webhookSummary{}}
	if resp.Events, err = a.events.CountSince(r.tenant, start); err != nil {
		return err
	}
	hooks, _, err := a.webhooks.List(r.tenant, projections.WebhookFilter{}, 0, maxStatsWebhooks)
	if err != nil {
		return err
	}
	for _, wh := range hooks {
		s := webhookSummary{Locator: wh.Locator, Name: wh.Name, Enabled: wh.Enabled, Suspended: wh.Suspended}
		err := a.attempts.EachSince(r.tenant, wh.Locator, start, func(at *hookstream.Attempt) {
			s.add(at)
			resp.Attempts.add(at)
			if at.Status == hookstream.AttemptFailed && (s.LastFailure == nil || at.Created.After(s.LastFailure.Created)) {
				s.LastFailure = at
			}
		})
		if err != nil {
			return err
		}
		if s.Diverted, err = a.diverted.CountDiverted(r.tenant, wh.Locator); err != nil {
			return err
		}
		s.finish()
		resp.Webhooks++
		resp.Diverted += s.Diverted
		if wh.Suspended {
			resp.Suspended++
		}
		if !wh.Enabled {
			resp.Disabled++
		}
		resp.PerWebhook = append(resp.PerWebhook, s)
	}
	resp.Attempts.finish()
	writeJSON(w, http.StatusOK, resp)
	return nil
}
