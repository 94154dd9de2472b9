package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/hookstream/hookstream/broker"
	"github.com/hookstream/hookstream/config"
	"github.com/hookstream/hookstream/projections"
)

// RebuildStats describes a finished rebuild.
type RebuildStats struct {
	// Messages is the number of stream messages the views applied (summed over the views).
	Messages uint64
	Elapsed  time.Duration
}

// Rebuild deletes the views file and recreates every view from the streams. The server must be stopped:
// the file lock refuses a rebuild while another process has the file open.
func Rebuild(ctx context.Context, cfg *config.Config, log *slog.Logger, progress func(applied, total uint64)) (RebuildStats, error) {
	b, err := OpenBroker(ctx, cfg, log, true)
	if err != nil {
		return RebuildStats{}, err
	}
	defer b.Close()
	path := filepath.Join(cfg.Data, ViewsFile)
	// Open first so that a running server's lock stops us before anything is deleted.
	probe, err := projections.Open(path, b.JS, projections.Options{StreamName: b.Subjects.StreamName}, log)
	if err != nil {
		return RebuildStats{}, err
	}
	if err := probe.Close(); err != nil {
		return RebuildStats{}, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return RebuildStats{}, fmt.Errorf("remove %s: %w", path, err)
	}
	start := time.Now()
	store, err := projections.Open(path, b.JS, projections.Options{StreamName: b.Subjects.StreamName, NoSync: true}, log)
	if err != nil {
		return RebuildStats{}, err
	}
	views := newViews(store, b.Subjects).all()
	var total uint64
	for _, v := range views {
		s, err := b.Stream(ctx, v.Stream())
		if err != nil {
			store.Close()
			return RebuildStats{}, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			store.Close()
			return RebuildStats{}, fmt.Errorf("stream info: %w", err)
		}
		total += info.State.Msgs
	}
	if err := store.Start(ctx, views...); err != nil {
		store.Close()
		return RebuildStats{}, err
	}
	done := make(chan error, 1)
	go func() { done <- store.WaitCaughtUp(ctx) }()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			applied := sum(store.Applied())
			if progress != nil {
				progress(applied, total)
			}
			if cerr := store.Close(); err == nil {
				err = cerr
			}
			return RebuildStats{Messages: applied, Elapsed: time.Since(start)}, err
		case <-tick.C:
			if progress != nil {
				progress(sum(store.Applied()), total)
			}
		}
	}
}

// views are every read model. Adding a view is adding it here.
type views struct {
	webhooks *projections.Webhooks
	tokens   *projections.Tokens
	events   *projections.Events
	attempts *projections.Attempts
	diverted *projections.Diverted
}

func newViews(store *projections.Store, subjects broker.Subjects) views {
	return views{webhooks: projections.NewWebhooks(store), tokens: projections.NewTokens(store),
		events: projections.NewEvents(store, subjects), attempts: projections.NewAttempts(store), diverted: projections.NewDiverted(store)}
}

func (v views) all() []projections.View {
	return []projections.View{v.webhooks, v.tokens, v.events, v.attempts, v.diverted}
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
