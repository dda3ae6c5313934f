package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"

	"github.com/nanoclaw/nanoclaw-go/sandbox/runproto"
)

// The markers the host looks for on the container's stdout (sandbox/runproto).
const (
	outputStartMarker = runproto.OutputStart
	outputEndMarker   = runproto.OutputEnd
)

// output is one result block.
type output = runproto.Output

// outputWriter writes one marker block per result. It is safe for concurrent use.
type outputWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *outputWriter) write(out output) error {
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err = fmt.Fprintf(o.w, "%s\n%s\n%s\n", outputStartMarker, b, outputEndMarker)
	return err
}

// success reports a finished turn: its text (if any) and the inputs it answers.
func (o *outputWriter) success(result, sessionID string, inputs []int64) error {
	var r *string
	if result != "" {
		r = &result
	}
	return o.write(output{Status: "success", Result: r, NewSessionID: sessionID, Inputs: inputs})
}

// notice reports a line for the chat that answers nothing (runproto.StatusNotice).
func (o *outputWriter) notice(text string) error {
	return o.write(output{Status: runproto.StatusNotice, Notice: text})
}

func (o *outputWriter) failure(err error, sessionID string) error {
	return o.write(output{Status: "error", NewSessionID: sessionID, Error: err.Error(), ErrorKind: classify(err)})
}
