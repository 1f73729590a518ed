// Copyright 2026 the rewind authors. SPDX-License-Identifier: BSD-3-Clause

package cli

import (
	"encoding/json"
	"fmt"
	"io"
)

// result starts every verb's --json result line: the last line the verb
// prints, on success and on failure alike, so that a script reads one
// line to learn the outcome. A verb's result type embeds it.
type result struct {
	Type  string `json:"type"` // always "result"
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"` // why it failed, on one line
}

func (r *result) head() *result { return r }

// resultLine is a verb's result type: a struct embedding result.
type resultLine interface{ head() *result }

// printResult prints v as one JSON line on w, its ok and error fields set
// from err. A verb with --json defers it first thing in its run function,
// after any progress printer has been stopped (deferred calls run last to
// first), so that whatever fails - the disks, the repository, the work -
// the output ends in exactly one result line.
func printResult(w io.Writer, v resultLine, err error) {
	h := v.head()
	h.Type, h.OK, h.Error = "result", err == nil, ""
	if err != nil {
		h.Error = oneLine(err.Error())
	}
	b, merr := json.Marshal(v)
	if merr != nil {
		// Not expected (result types are plain data); still one line.
		b, _ = json.Marshal(result{Type: "result", Error: fmt.Sprintf("printing the result: %v (the outcome: %s)", merr, h.Error)})
	}
	fmt.Fprintf(w, "%s\n", b)
}
