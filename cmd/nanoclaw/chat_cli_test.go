package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestChatCLI drives `nanoclaw chat` against a real host as a user would: an unregistered
// chat is refused at once (exit 1) with the command that registers it; a registered one
// prints a banner naming the chat, its group, the assistant and how to quit, a typing line
// while the agent works, and the reply labelled with the assistant's name (banner and typing
// on stderr, the conversation on stdout); a host that stops ends a waiting client with a
// clear line and exit 1.
func TestChatCLI(t *testing.T) {
	d := requireDocker(t)
	work := workDir(t, d)
	_, url := newMockAPI(t)
	vars := hostEnv(work, url)
	stop, logs := startHost(t, work, vars)
	logs.waitCount(t, "host ready", 1, time.Minute)
	getenv := func(k string) string { return vars[k] }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	var out, errOut bytes.Buffer
	start := time.Now()
	code := dispatch(ctx, []string{"chat", "--chat", "local:nope"}, env{stdin: strings.NewReader("hello?\n"), stdout: &out, stderr: &errOut, getenv: getenv, workdir: work})
	if code != 1 || !strings.Contains(errOut.String(), "nanoclaw groups add --jid local:nope --folder nope") || out.Len() != 0 {
		t.Fatalf("unregistered chat: exit %d\nstdout %q\nstderr %q", code, out.String(), errOut.String())
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the refusal took %v", took)
	}

	out.Reset()
	errOut.Reset()
	code = dispatch(ctx, []string{"chat", "--replies", "1", "--name", "alice"}, env{stdin: strings.NewReader("hello there\n"), stdout: &out, stderr: &errOut, getenv: getenv, workdir: work})
	if code != 0 || out.String() != "Andy: reply: hello there\n\n" {
		t.Fatalf("chat: exit %d\nstdout %q\nstderr %q", code, out.String(), errOut.String())
	}
	for _, want := range []string{"Chatting in local:main (Local chat) with Andy.", "Ctrl-D or Ctrl-C to quit", "… Andy is typing"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}

	// A client waiting on the host when it stops.
	pr, pw := io.Pipe()
	defer pw.Close()
	info := &logBuffer{wrote: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() {
		done <- dispatch(ctx, []string{"chat"}, env{stdin: pr, stdout: io.Discard, stderr: info, getenv: getenv, workdir: work})
	}()
	info.waitCount(t, "Chatting in", 1, time.Minute)
	stop()
	select {
	case code := <-done:
		if code != 1 || !strings.Contains(info.String(), "the nanoclaw host stopped; the chat ended") {
			t.Fatalf("after the host stopped: exit %d\n%s", code, info.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("the chat client outlived the host")
	}
}
