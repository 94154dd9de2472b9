package delivery

import (
	"bytes"
	"log/slog"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/filter"
)

// filters keeps each webhook's parsed payload filter, parsed again only when the webhook's filter changes,
// so an event costs one evaluation per filtered webhook, never a parse. It is not safe for concurrent use:
// each user (the router's loop, one job) has its own.
type filters map[string]parsedFilter

type parsedFilter struct {
	raw []byte
	f   *filter.Filter // nil: the stored filter did not parse, and lets every event through
}

// maxCachedFilters bounds the cache: past it, it starts over rather than keep deleted webhooks' filters.
const maxCachedFilters = 100_000

// accepts reports whether the webhook's filter lets the event through. A filter that does not parse (the API
// refuses those, so only a filter written by a newer version could) lets every event through: an event is
// never lost to a filter this version cannot read.
func (fs filters) accepts(w *hookstream.Webhook, e *filter.Event, log *slog.Logger) bool {
	if len(w.Filter) == 0 {
		return true
	}
	key := w.Tenant + "/" + w.Locator
	p, ok := fs[key]
	if !ok || !bytes.Equal(p.raw, w.Filter) {
		if len(fs) >= maxCachedFilters {
			clear(fs)
		}
		f, err := filter.Parse(w.Filter)
		if err != nil {
			log.Warn("a webhook's filter does not parse; every event goes through", "webhook", w.Locator, "err", err)
		}
		p = parsedFilter{raw: w.Filter, f: f}
		fs[key] = p
	}
	return p.f.Match(e)
}

// filterEvent is what filters see of an event; its data is read in place, indexed once by the first filter
// that reads it.
func filterEvent(e *hookstream.Event) *filter.Event {
	return &filter.Event{Locator: e.Locator, Type: e.Type, TenantLocator: e.Tenant, Timestamp: e.Timestamp,
		RequestID: e.RequestID, Data: e.Data}
}
