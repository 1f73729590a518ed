// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

// Package pipeline holds the three pieces the engines' stages are built
// from: a send and a receive that stop when the context ends, and a stage
// of workers in an errgroup that closes its output when the last returns.
package pipeline

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
)

// Send sends v on ch unless ctx ends first, and then returns ctx.Err().
func Send[T any](ctx context.Context, ch chan<- T, v T) error {
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Recv receives from ch (a free list, say) unless ctx ends first, and then
// returns ctx.Err(). ch must not be closed.
func Recv[T any](ctx context.Context, ch <-chan T) (T, error) {
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Stage runs n copies of fn in g and, when out is not nil, closes out once
// they have all returned, so that the next stage's range loops end. fn
// should stop sending when g's context ends.
func Stage[T any](g *errgroup.Group, n int, out chan T, fn func() error) {
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		g.Go(func() error {
			defer wg.Done()
			return fn()
		})
	}
	if out != nil {
		go func() {
			wg.Wait()
			close(out)
		}()
	}
}
