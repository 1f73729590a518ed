// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package boot

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// reportTries and reportTimeout bound how long the environment spends
// telling the PXE server a task is done: a few seconds, never the task.
const (
	reportTries   = 4
	reportTimeout = 10 * time.Second
)

// report posts the result line of an unattended task to url, the PXE
// server's /done/MAC address (rewind.report=), so that the server records
// the result and clears a one-shot task. It tries a few times, then says
// on the console that it could not; it never fails the task, whose result
// is on the console either way. url "" does nothing. The line holds no
// secret (it is the one printed on the console).
func (b *booter) report(ctx context.Context, url string, line []byte) {
	if url == "" {
		return
	}
	err := postReport(ctx, url, line, time.Second)
	if err != nil {
		b.say("warning: the PXE server was not told the task is done (%s); it will run again at the next network boot unless removed with rewind pxe task rm", oneLine(err.Error()))
		return
	}
	b.say("report: sent to %s", url)
}

// postReport posts line to url, retrying a failed attempt after wait,
// 2*wait, ... up to reportTries attempts.
func postReport(ctx context.Context, url string, line []byte, wait time.Duration) error {
	client := &http.Client{Timeout: reportTimeout}
	var err error
	for try := range reportTries {
		if try > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait << (try - 1)):
			}
		}
		err = postOnce(ctx, client, url, line)
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("%d tries, the last: %w", reportTries, err)
}

func postOnce(ctx context.Context, c *http.Client, url string, line []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(line))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
