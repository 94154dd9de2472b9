// Package commands carries out hookstream's commands: it loads an aggregate from the views, lets the domain
// rules decide on the change event, appends it with optimistic concurrency on the aggregate's subject, and
// answers once the views have applied it (read-your-writes). Both API faces and the CLI go through it.
package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hookstream/hookstream"
	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/projections"
	"github.com/nats-io/nats.go"
)

// maxConflictRetries bounds how often a command reloads and retries after losing a race; each retry waits
// for the winner's event to be applied, so it makes progress.
const maxConflictRetries = 200

// Service executes commands.
type Service struct {
	broker   *broker.Broker
	store    *projections.Store
	webhooks *projections.Webhooks
	tokens   *projections.Tokens
	policy   hookstream.Policy
	now      func() time.Time
}

// New returns a Service. now is the clock (time.Now in production).
func New(b *broker.Broker, store *projections.Store, webhooks *projections.Webhooks, tokens *projections.Tokens,
	policy hookstream.Policy, now func() time.Time) *Service {
	return &Service{broker: b, store: store, webhooks: webhooks, tokens: tokens, policy: policy, now: now}
}

// Policy returns the validation policy.
func (s *Service) Policy() hookstream.Policy { return s.policy }

// CreateWebhook creates a webhook and returns its state.
func (s *Service) CreateWebhook(ctx context.Context, actor, tenant string, req *hookstream.WebhookCreate) (*hookstream.Webhook, error) {
	now := s.now().UTC()
	e, err := s.policy.CreateWebhook(tenant, hookstream.NewLocator(now), actor, now, req)
	if err != nil {
		return nil, err
	}
	none := uint64(0)
	if _, err := s.appendWebhookEvent(ctx, e, &none); err != nil {
		return nil, err
	}
	return s.webhooks.Get(tenant, e.Webhook)
}

// UpdateWebhook applies a PATCH.
func (s *Service) UpdateWebhook(ctx context.Context, actor, tenant, locator string, req *hookstream.WebhookUpdate) (*hookstream.Webhook, error) {
	return s.changeWebhook(ctx, tenant, locator, func(w *hookstream.Webhook, now time.Time) (*hookstream.WebhookEvent, error) {
		return s.policy.UpdateWebhook(w, actor, now, req)
	})
}

// UpdateWebhookWith applies the PATCH that build makes from the webhook's current state: for changes stated
// as a whole ("these event types") that the domain records as removals and additions. build runs again if
// another writer changes the webhook first.
func (s *Service) UpdateWebhookWith(ctx context.Context, actor, tenant, locator string, build func(w *hookstream.Webhook) *hookstream.WebhookUpdate) (*hookstream.Webhook, error) {
	return s.changeWebhook(ctx, tenant, locator, func(w *hookstream.Webhook, now time.Time) (*hookstream.WebhookEvent, error) {
		return s.policy.UpdateWebhook(w, actor, now, build(w))
	})
}

// RotateSecret gives the webhook a new secret; the old one keeps signing for a grace period.
func (s *Service) RotateSecret(ctx context.Context, actor, tenant, locator string) (*hookstream.Webhook, error) {
	return s.changeWebhook(ctx, tenant, locator, func(w *hookstream.Webhook, now time.Time) (*hookstream.WebhookEvent, error) {
		return s.policy.RotateSecret(w, actor, now)
	})
}

// Unsuspend lifts a suspension (a no-op when the webhook is not suspended).
func (s *Service) Unsuspend(ctx context.Context, actor, tenant, locator string) (*hookstream.Webhook, error) {
	return s.changeWebhook(ctx, tenant, locator, func(w *hookstream.Webhook, now time.Time) (*hookstream.WebhookEvent, error) {
		return hookstream.Unsuspend(w, actor, now)
	})
}

// Suspend suspends a webhook on the engine's behalf (a no-op when it is already suspended).
func (s *Service) Suspend(ctx context.Context, tenant, locator, reason string) (*hookstream.Webhook, error) {
	return s.changeWebhook(ctx, tenant, locator, func(w *hookstream.Webhook, now time.Time) (*hookstream.WebhookEvent, error) {
		return hookstream.Suspend(w, reason, now), nil
	})
}

// Release ends a webhook's holding once its held events are all delivered (a no-op when it is not holding).
func (s *Service) Release(ctx context.Context, tenant, locator string) error {
	_, err := s.changeWebhook(ctx, tenant, locator, func(w *hookstream.Webhook, now time.Time) (*hookstream.WebhookEvent, error) {
		return hookstream.Release(w, now), nil
	})
	return err
}

// DeleteWebhook deletes a webhook.
func (s *Service) DeleteWebhook(ctx context.Context, actor, tenant, locator string) error {
	_, err := s.changeWebhook(ctx, tenant, locator, func(w *hookstream.Webhook, now time.Time) (*hookstream.WebhookEvent, error) {
		return hookstream.DeleteWebhook(w, actor, now)
	})
	return err
}

type decideFunc func(w *hookstream.Webhook, now time.Time) (*hookstream.WebhookEvent, error)

// changeWebhook runs decide against the webhook's latest state and appends the result, expecting the state's
// version; when another writer got there first it waits for that write to be applied and decides again.
func (s *Service) changeWebhook(ctx context.Context, tenant, locator string, decide decideFunc) (*hookstream.Webhook, error) {
	subject := s.broker.Subjects.Webhook(tenant, locator)
	for range maxConflictRetries {
		w, err := s.webhooks.Get(tenant, locator)
		if err != nil {
			return nil, err
		}
		e, err := decide(w, s.now().UTC())
		if err != nil {
			return nil, err
		}
		if e == nil {
			return w, nil
		}
		_, err = s.appendWebhookEvent(ctx, e, &w.Version)
		if errors.Is(err, broker.ErrWrongLastSequence) {
			if err := s.catchUpSubject(ctx, broker.KindWebhooks, projections.WebhooksView, subject); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		return s.webhooks.GetAny(tenant, locator)
	}
	return nil, hookstream.Conflict("webhook %s changed concurrently too often; try again", locator)
}

func (s *Service) appendWebhookEvent(ctx context.Context, e *hookstream.WebhookEvent, expected *uint64) (uint64, error) {
	seq, err := s.broker.AppendJSON(ctx, s.broker.Subjects.Webhook(e.Tenant, e.Webhook), e, broker.AppendOptions{
		ExpectedVersion: expected,
		Header:          nats.Header{broker.HeaderEventType: {e.Type}, broker.HeaderActor: {e.Actor}},
	})
	if err != nil {
		return 0, err
	}
	if err := s.store.WaitFor(ctx, projections.WebhooksView, seq); err != nil {
		return 0, fmt.Errorf("wait for webhooks view: %w", err)
	}
	return seq, nil
}

// catchUpSubject waits until view has applied the last message on subject, so the next load sees it.
func (s *Service) catchUpSubject(ctx context.Context, kind, view, subject string) error {
	stream, err := s.broker.Stream(ctx, kind)
	if err != nil {
		return err
	}
	last, err := stream.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return fmt.Errorf("last message on %s: %w", subject, err)
	}
	return s.store.WaitFor(ctx, view, last.Sequence)
}

// CreateToken mints a token and returns its state and its secret (shown once, never stored).
func (s *Service) CreateToken(ctx context.Context, actor string, req *hookstream.TokenCreate) (*hookstream.Token, string, error) {
	now := s.now().UTC()
	e, secret, err := hookstream.CreateToken(hookstream.NewLocator(now), actor, now, req)
	if err != nil {
		return nil, "", err
	}
	none := uint64(0)
	if err := s.appendTokenEvent(ctx, e, &none); err != nil {
		return nil, "", err
	}
	t, err := s.tokens.Get(e.Token)
	return t, secret, err
}

// RevokeToken revokes a token at once.
func (s *Service) RevokeToken(ctx context.Context, actor, locator string) error {
	subject := s.broker.Subjects.Token(locator)
	for range maxConflictRetries {
		t, err := s.tokens.Get(locator)
		if err != nil {
			return err
		}
		e, err := hookstream.RevokeToken(t, actor, s.now().UTC())
		if err != nil {
			return err
		}
		err = s.appendTokenEvent(ctx, e, &t.Version)
		if errors.Is(err, broker.ErrWrongLastSequence) {
			if err := s.catchUpSubject(ctx, broker.KindTokens, projections.TokensView, subject); err != nil {
				return err
			}
			continue
		}
		return err
	}
	return hookstream.Conflict("token %s changed concurrently too often; try again", locator)
}

func (s *Service) appendTokenEvent(ctx context.Context, e *hookstream.TokenEvent, expected *uint64) error {
	seq, err := s.broker.AppendJSON(ctx, s.broker.Subjects.Token(e.Token), e, broker.AppendOptions{
		ExpectedVersion: expected,
		Header:          nats.Header{broker.HeaderEventType: {e.Type}, broker.HeaderActor: {e.Actor}},
	})
	if err != nil {
		return err
	}
	if err := s.store.WaitFor(ctx, projections.TokensView, seq); err != nil {
		return fmt.Errorf("wait for tokens view: %w", err)
	}
	return nil
}
