package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what a run measured. The main phase's figures are at the top level; the optional phases have
// their own sections, each with its ratio to the main phase.
type Result struct {
	// Engine is "in-process" or the running engine's API URL.
	Engine string `json:"engine"`
	// Ingestion is "nats" or "http"; Mode "burst" or "rate".
	Ingestion              string  `json:"ingestion"`
	Mode                   string  `json:"mode"`
	Rate                   float64 `json:"rate,omitempty"`
	Webhooks               int     `json:"webhooks"`
	Events                 int     `json:"events"`
	PayloadBytes           int     `json:"payloadBytes"`
	MaxInFlight            int     `json:"maxInFlight"`
	MaxInFlightPerEndpoint int     `json:"maxInFlightPerEndpoint"`
	// Concurrency is the delivery concurrency the engine may use, and the baseline's:
	// MaxInFlightPerEndpoint × Webhooks, capped by MaxInFlight.
	Concurrency int `json:"concurrency"`
	// GCPercent is the in-process engine's GC target (Options.GCPercent); 0 when the process kept Go's own
	// or the engine runs elsewhere.
	GCPercent int    `json:"gcPercent,omitempty"`
	Seed      uint64 `json:"seed"`
	Tenant    string `json:"tenant"`

	// Phase holds the main phase: Events events to Webhooks webhooks.
	Phase
	// Baseline is raw HTTP POSTs of the same bodies to the same receiver at Concurrency (nil without
	// webhooks), and Ratio is DeliveriesPerSecond ÷ Baseline.PerSecond.
	Baseline *Baseline `json:"baseline,omitempty"`
	Ratio    float64   `json:"ratio"`

	Ingest *Ingest `json:"ingest,omitempty"`
	// Forwarder is the bare-forwarder baseline of the round reported above (Options.Forwarder).
	Forwarder *Forwarder `json:"forwarder,omitempty"`
	// Rounds lists every round when there were several (Options.Rounds), in the order they ran; the figures
	// above are the median round's.
	Rounds         []Round         `json:"rounds,omitempty"`
	PendingRetries *PendingRetries `json:"pendingRetries,omitempty"`
	Isolation      *Isolation      `json:"isolation,omitempty"`
}

// Phase is one measured stage: events published, deliveries received.
type Phase struct {
	// Deliveries counts distinct (event, webhook) pairs received by the fast endpoints; Duplicates the
	// receipts of a pair already received.
	Deliveries int64 `json:"deliveries"`
	Duplicates int64 `json:"duplicates"`
	// Seconds runs from the first publication to the last delivery (to the last acknowledged publication
	// when there are no webhooks).
	Seconds             float64 `json:"seconds"`
	DeliveriesPerSecond float64 `json:"deliveriesPerSecond"`
	// PublishSeconds is how long publishing took (every event acknowledged).
	PublishSeconds     float64 `json:"publishSeconds"`
	PublishedPerSecond float64 `json:"publishedPerSecond"`
	// PublishRetries counts publications the server refused for now (429, its ingest queue full) and the
	// bench sent again after a pause.
	PublishRetries int64    `json:"publishRetries,omitempty"`
	Latency        *Latency `json:"latencyMs,omitempty"`
	// LongestPauseMs is the longest time without a new delivery, from the first publication to the last
	// delivery: a stall shows here even when the average rate hides it.
	LongestPauseMs float64      `json:"longestPauseMs,omitempty"`
	Server         *ServerUsage `json:"server,omitempty"`
}

// Latency is publish → receipt latency in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Baseline is a run of raw HTTP POSTs.
type Baseline struct {
	Requests    int64   `json:"requests"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"perSecond"`
}

// ServerUsage is the server's resource use during a phase.
type ServerUsage struct {
	PeakRSSBytes int64   `json:"peakRssBytes"`
	CPUSeconds   float64 `json:"cpuSeconds"`
	// CPUMicrosPerDelivery divides CPUSeconds by the deliveries (by the events when there are none).
	CPUMicrosPerDelivery float64 `json:"cpuMicrosPerDelivery"`
	// Source says where the figures come from and what they include.
	Source string `json:"source"`
}

// Round is one alternation of the raw baseline and the main phase: its ratio is ingestion's with IngestHTTP,
// the deliveries' otherwise.
type Round struct {
	PerSecond         float64 `json:"perSecond"`
	BaselinePerSecond float64 `json:"baselinePerSecond"`
	// P99Ms is the round's publish → receipt p99, in milliseconds (0 without deliveries).
	P99Ms float64 `json:"p99Ms,omitempty"`
	// ForwarderPerSecond is the bare forwarder's deliveries/s in the round (Options.Forwarder).
	ForwarderPerSecond float64 `json:"forwarderPerSecond,omitempty"`
	Ratio              float64 `json:"ratio"`
	// PeakRSSBytes is the server's peak RSS during the round's main phase. Only the first round's starts
	// from a fresh engine; later rounds start with what earlier ones left resident.
	PeakRSSBytes int64 `json:"peakRssBytes,omitempty"`
}

// Forwarder is the bare forwarder, the second baseline: JetStream in, one POST per webhook out, nothing
// recorded. Ratio is the engine's deliveries/s ÷ the forwarder's, in the same round.
type Forwarder struct {
	*Baseline
	Ratio float64 `json:"ratio"`
}

// Ingest is the HTTP ingestion measurement (IngestHTTP).
type Ingest struct {
	Events  int `json:"events"`
	Clients int `json:"clients"`
	// Batch is the events per request: 1 for POST /events, more for POST /events/batch.
	Batch     int       `json:"batch"`
	Seconds   float64   `json:"seconds"`
	PerSecond float64   `json:"perSecond"`
	Baseline  *Baseline `json:"baseline"`
	Ratio     float64   `json:"ratio"`
}

// PendingRetries is the main phase run again with Pending retries scheduled far in the future.
type PendingRetries struct {
	Pending     int     `json:"pending"`
	FillSeconds float64 `json:"fillSeconds"`
	// SettleSeconds is how long the engine took, after the fill, to apply and route what the fill left.
	SettleSeconds float64 `json:"settleSeconds"`
	// WaitSeconds is how long the phase then waited (Options.PendingWait).
	WaitSeconds float64 `json:"waitSeconds"`
	Phase
	// Ratio is DeliveriesPerSecond ÷ the main phase's.
	Ratio float64 `json:"ratio"`
}

// Isolation is the main phase run again with SlowEndpoints more endpoints answering after SlowDelayMs.
type Isolation struct {
	SlowEndpoints int     `json:"slowEndpoints"`
	SlowDelayMs   float64 `json:"slowDelayMs"`
	// SlowDelivered counts the slow endpoints' receipts by the time the fast ones had everything.
	SlowDelivered int64 `json:"slowDelivered"`
	Phase
	// Ratio is the fast endpoints' DeliveriesPerSecond ÷ the main phase's (all fast).
	Ratio float64 `json:"ratio"`
}

// latencyOf summarizes latencies in nanoseconds (sorting them).
func latencyOf(ns []int64) *Latency {
	if len(ns) == 0 {
		return nil
	}
	slices.Sort(ns)
	ms := func(v int64) float64 { return float64(v) / 1e6 }
	return &Latency{P50: ms(percentile(ns, 0.50)), P90: ms(percentile(ns, 0.90)), P99: ms(percentile(ns, 0.99)), Max: ms(ns[len(ns)-1])}
}

// percentile is the nearest-rank percentile of sorted values: the smallest value with at least p of them at
// or below it.
func percentile(sorted []int64, p float64) int64 {
	rank := int(p*float64(len(sorted)) + 0.999999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// WriteTable writes the result as a table for people.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	how := "burst"
	if r.Mode == "rate" {
		how = fmt.Sprintf("steady %s events/s", trimFloat(r.Rate))
	}
	fmt.Fprintf(&b, "hookstream bench: %s engine; %d webhook(s); %s events × %d B over %s, %s\n",
		r.Engine, r.Webhooks, formatCount(int64(r.Events)), r.PayloadBytes, strings.ToUpper(r.Ingestion), how)
	gc := ""
	if r.GCPercent > 0 {
		gc = fmt.Sprintf("GC target %d %% (the raw baseline's: Go's own); ", r.GCPercent)
	}
	fmt.Fprintf(&b, "max in flight %d, per endpoint %d: delivery concurrency %d; %sseed %d; tenant %s\n\n",
		r.MaxInFlight, r.MaxInFlightPerEndpoint, r.Concurrency, gc, r.Seed, r.Tenant)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	row := func(cells ...string) { fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t") }
	row("", "engine", "raw HTTP", "ratio")
	if r.Ingest != nil {
		ib := r.Ingest.Baseline
		label := "ingested events/s (" + fmt.Sprint(r.Ingest.Clients) + " clients"
		if r.Ingest.Batch > 1 {
			label += fmt.Sprintf(", batches of %d", r.Ingest.Batch)
		}
		row(label+")", perSecond(r.Ingest.PerSecond), perSecond(ib.PerSecond), fmt.Sprintf("%.2f", r.Ingest.Ratio))
	}
	if r.Webhooks > 0 {
		note := ""
		if r.Mode == "rate" {
			note = " (bounded by the offered rate)"
		}
		row("deliveries/s", perSecond(r.DeliveriesPerSecond), perSecond(r.Baseline.PerSecond), fmt.Sprintf("%.2f%s", r.Ratio, note))
		row("deliveries", fmt.Sprintf("%s in %.2f s", formatCount(r.Deliveries), r.Seconds),
			fmt.Sprintf("%s in %.2f s", formatCount(r.Baseline.Requests), r.Baseline.Seconds), "")
		if r.Duplicates > 0 {
			row("duplicate receipts", formatCount(r.Duplicates), "", "")
		}
		if f := r.Forwarder; f != nil {
			row("bare forwarder deliveries/s (engine ÷ it)", perSecond(r.DeliveriesPerSecond), perSecond(f.PerSecond), fmt.Sprintf("%.2f", f.Ratio))
		}
		row("latency p50 / p90 / p99 / max", latencyText(r.Latency), "", "")
		row("longest pause between deliveries", trimFloat(r.LongestPauseMs)+" ms", "", "")
	}
	if n := len(r.Rounds); n > 1 {
		lo, hi := r.Rounds[0].Ratio, r.Rounds[0].Ratio
		for _, rd := range r.Rounds {
			lo, hi = min(lo, rd.Ratio), max(hi, rd.Ratio)
		}
		row(fmt.Sprintf("%d rounds, alternately (above: the median)", n), "", "", fmt.Sprintf("%.2f–%.2f", lo, hi))
		for i, rd := range r.Rounds {
			label := fmt.Sprintf("  round %d", i+1)
			if rd.PeakRSSBytes > 0 {
				label += fmt.Sprintf(", peak RSS %.1f MB", float64(rd.PeakRSSBytes)/1e6)
			}
			if r.Mode == "rate" && rd.P99Ms > 0 {
				label += ", p99 " + trimFloat(rd.P99Ms) + " ms"
			}
			row(label, perSecond(rd.PerSecond), perSecond(rd.BaselinePerSecond), fmt.Sprintf("%.2f", rd.Ratio))
			if rd.ForwarderPerSecond > 0 {
				row("    bare forwarder", perSecond(rd.PerSecond), perSecond(rd.ForwarderPerSecond), fmt.Sprintf("%.2f", ratio(rd.PerSecond, rd.ForwarderPerSecond)))
			}
		}
	}
	row("events published/s", perSecond(r.PublishedPerSecond), "", "")
	if r.PublishRetries > 0 {
		row("publications refused (429) and retried", formatCount(r.PublishRetries), "", "")
	}
	if s := r.Server; s != nil {
		rss := fmt.Sprintf("%.1f MB", float64(s.PeakRSSBytes)/1e6)
		if len(r.Rounds) > 1 && r.Rounds[0].PeakRSSBytes > 0 {
			// Only the first round starts from a fresh engine.
			rss += fmt.Sprintf(" (first round: %.1f MB)", float64(r.Rounds[0].PeakRSSBytes)/1e6)
		}
		row("server peak RSS", rss, "", "")
		row("server CPU", fmt.Sprintf("%.2f s (%.0f µs per delivery)", s.CPUSeconds, s.CPUMicrosPerDelivery), "", "")
	}
	if p := r.PendingRetries; p != nil {
		row(fmt.Sprintf("deliveries/s, %s retries pending", formatCount(int64(p.Pending))), perSecond(p.DeliveriesPerSecond), "", fmt.Sprintf("%.2f of none pending", p.Ratio))
		row("  filled in / settled in / waited", fmt.Sprintf("%.1f s / %.1f s / %.1f s", p.FillSeconds, p.SettleSeconds, p.WaitSeconds), "", "")
		row("  latency p50 / p90 / p99 / max", latencyText(p.Latency), "", "")
		row("  longest pause between deliveries", trimFloat(p.LongestPauseMs)+" ms", "", "")
		if s := p.Server; s != nil {
			row("  server peak RSS", fmt.Sprintf("%.1f MB", float64(s.PeakRSSBytes)/1e6), "", "")
		}
	}
	if is := r.Isolation; is != nil {
		row(fmt.Sprintf("fast deliveries/s, %d endpoint(s) answering after %s", is.SlowEndpoints, time.Duration(is.SlowDelayMs*1e6)),
			perSecond(is.DeliveriesPerSecond), "", fmt.Sprintf("%.2f of all fast", is.Ratio))
		row("  latency p50 / p90 / p99 / max", latencyText(is.Latency), "", "")
		row("  longest pause between deliveries", trimFloat(is.LongestPauseMs)+" ms", "", "")
		row("  slow endpoints' receipts meanwhile", formatCount(is.SlowDelivered), "", "")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s := r.Server; s != nil {
		fmt.Fprintf(&b, "\nserver figures: %s\n", s.Source)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func perSecond(v float64) string { return formatCount(int64(v+0.5)) + "/s" }

func latencyText(l *Latency) string {
	if l == nil {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s / %s ms", trimFloat(l.P50), trimFloat(l.P90), trimFloat(l.P99), trimFloat(l.Max))
}

// trimFloat prints v with three significant decimals at most.
func trimFloat(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
