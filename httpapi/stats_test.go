package httpapi

import (
	"testing"

	"github.com/hookstream/hookstream"
)

func TestOutcomeCountsPercentilesByNearestRank(t *testing.T) {
	var c outcomeCounts
	for i := 1; i <= 100; i++ {
		c.add(&hookstream.Attempt{Status: hookstream.AttemptSuccess, LatencyMs: float64(101 - i)})
	}
	c.add(&hookstream.Attempt{Status: hookstream.AttemptFailed, LatencyMs: 500})
	c.add(&hookstream.Attempt{Status: hookstream.AttemptPending})
	c.finish()
	if c.Success != 100 || c.Failed != 1 || c.Pending != 1 {
		t.Fatalf("counts %+v", c)
	}
	if *c.P50Ms != 51 || *c.P99Ms != 100 {
		t.Fatalf("p50 %v p99 %v, want 51 and 100", *c.P50Ms, *c.P99Ms)
	}
	if got := *c.SuccessRate; got != 100.0/101 {
		t.Fatalf("success rate %v", got)
	}

	var none outcomeCounts
	none.add(&hookstream.Attempt{Status: hookstream.AttemptPending})
	none.finish()
	if none.SuccessRate != nil || none.P50Ms != nil || none.P99Ms != nil {
		t.Fatalf("no ended attempt yet rate and percentiles: %+v", none)
	}
}
