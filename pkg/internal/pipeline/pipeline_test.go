// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package pipeline

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/sync/errgroup"
)

// TestStage runs a producer and two stages: every value arrives once, and
// each output is closed when its stage is done.
func TestStage(t *testing.T) {
	g, ctx := errgroup.WithContext(context.Background())
	nums, doubled := make(chan int), make(chan int, 3)
	Stage(g, 1, nums, func() error {
		for i := range 100 {
			if err := Send(ctx, nums, i); err != nil {
				return err
			}
		}
		return nil
	})
	Stage(g, 4, doubled, func() error {
		for n := range nums {
			if err := Send(ctx, doubled, 2*n); err != nil {
				return err
			}
		}
		return nil
	})
	sum := 0
	Stage[int](g, 1, nil, func() error {
		for n := range doubled {
			sum += n
		}
		return nil
	})
	if err := g.Wait(); err != nil || sum != 2*99*100/2 {
		t.Errorf("Stage pipeline = %d, %v; want %d, nil", sum, err, 2*99*100/2)
	}
}

// TestStageError stops the whole pipeline when a stage fails: the producer,
// blocked on a full channel, returns with the context.
func TestStageError(t *testing.T) {
	g, ctx := errgroup.WithContext(context.Background())
	errStop := errors.New("stage failed")
	ch := make(chan int)
	var producerErr error
	Stage(g, 1, ch, func() error {
		for i := range 1 << 20 {
			if err := Send(ctx, ch, i); err != nil {
				producerErr = err
				return err
			}
		}
		return nil
	})
	Stage[int](g, 2, nil, func() error {
		<-ch
		return errStop
	})
	if err := g.Wait(); !errors.Is(err, errStop) || !errors.Is(producerErr, context.Canceled) {
		t.Errorf("Stage(failing consumer) = %v, producer %v; want %v, context.Canceled", err, producerErr, errStop)
	}
	free := make(chan []byte)
	if _, err := Recv(ctx, free); !errors.Is(err, context.Canceled) {
		t.Errorf("Recv(ended context, empty list) = %v, want context.Canceled", err)
	}
}
