package projections

import (
	"slices"
	"sync"

	"github.com/hookstream/hookstream"
)

// subscriberIndex finds a tenant's webhooks for an event type with map lookups, never a scan of all
// webhooks: per tenant, the webhooks that take every type and, per type, those that list it.
type subscriberIndex struct {
	mu      sync.RWMutex
	tenants map[string]*tenantIndex
	// holdingSet holds the webhooks that are holding events, so the releaser need not scan them all.
	holdingSet map[string]*hookstream.Webhook
}

type tenantIndex struct {
	webhooks map[string]*hookstream.Webhook
	allTypes []*hookstream.Webhook
	byType   map[string][]*hookstream.Webhook
}

func newSubscriberIndex() *subscriberIndex {
	return &subscriberIndex{tenants: map[string]*tenantIndex{}, holdingSet: map[string]*hookstream.Webhook{}}
}

func (x *subscriberIndex) reset() {
	x.mu.Lock()
	defer x.mu.Unlock()
	clear(x.tenants)
	clear(x.holdingSet)
}

// put records a webhook's latest state (a deleted one leaves the index).
func (x *subscriberIndex) put(w *hookstream.Webhook) {
	x.mu.Lock()
	defer x.mu.Unlock()
	t := x.tenants[w.Tenant]
	if t == nil {
		t = &tenantIndex{webhooks: map[string]*hookstream.Webhook{}}
		x.tenants[w.Tenant] = t
	}
	old := t.webhooks[w.Locator]
	if old != nil {
		t.remove(old)
	}
	if w.Holding && !w.Deleted {
		x.holdingSet[w.Tenant+"/"+w.Locator] = w
	} else {
		delete(x.holdingSet, w.Tenant+"/"+w.Locator)
	}
	if w.Deleted {
		delete(t.webhooks, w.Locator)
		return
	}
	t.webhooks[w.Locator] = w
	if len(w.EventTypes) == 0 {
		t.allTypes = append(t.allTypes, w)
		return
	}
	if t.byType == nil {
		t.byType = map[string][]*hookstream.Webhook{}
	}
	for _, et := range w.EventTypes {
		t.byType[et] = append(t.byType[et], w)
	}
}

func (t *tenantIndex) remove(w *hookstream.Webhook) {
	same := func(o *hookstream.Webhook) bool { return o.Locator == w.Locator }
	if len(w.EventTypes) == 0 {
		t.allTypes = slices.DeleteFunc(t.allTypes, same)
		return
	}
	for _, et := range w.EventTypes {
		if list := slices.DeleteFunc(t.byType[et], same); len(list) > 0 {
			t.byType[et] = list
		} else {
			delete(t.byType, et)
		}
	}
}

func (x *subscriberIndex) holding() []*hookstream.Webhook {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]*hookstream.Webhook, 0, len(x.holdingSet))
	for _, w := range x.holdingSet {
		out = append(out, w)
	}
	return out
}

func (x *subscriberIndex) get(tenant, locator string) *hookstream.Webhook {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if t := x.tenants[tenant]; t != nil {
		return t.webhooks[locator]
	}
	return nil
}

func (x *subscriberIndex) lookup(tenant, eventType string) []*hookstream.Webhook {
	x.mu.RLock()
	defer x.mu.RUnlock()
	t := x.tenants[tenant]
	if t == nil {
		return nil
	}
	typed := t.byType[eventType]
	out := make([]*hookstream.Webhook, 0, len(t.allTypes)+len(typed))
	return append(append(out, t.allTypes...), typed...)
}
