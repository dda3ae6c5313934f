package control

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeAndGet(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "c.sock")
	s := NewServer(sock)
	s.HandleJSON("/ping", func() any { return map[string]string{"pong": "yes"} })
	calls := 0
	s.HandlePost("/reload", func(*http.Request) (any, error) {
		calls++
		if calls > 1 {
			return nil, errors.New("reload failed")
		}
		return map[string]int{"calls": calls}, nil
	})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	var got map[string]string
	if err := GetJSON(ctx, sock, "/ping", &got); err != nil {
		t.Fatal(err)
	}
	if got["pong"] != "yes" {
		t.Fatalf("got %v", got)
	}
	var n map[string]int
	if err := PostJSON(ctx, sock, "/reload", &n); err != nil || n["calls"] != 1 {
		t.Fatalf("post: %v %v", n, err)
	}
	if err := PostJSON(ctx, sock, "/reload", &n); err == nil || !strings.Contains(err.Error(), "reload failed") {
		t.Fatalf("post error: %v", err)
	}
	if err := GetJSON(ctx, sock, "/reload", &n); err == nil {
		t.Fatal("a POST endpoint answered GET")
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if err := NewServer(sock).Serve(ctx); err == nil {
		t.Fatal("a second host started on a live socket")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := GetJSON(context.Background(), sock, "/ping", &got); !errors.Is(err, ErrNoHost) {
		t.Fatalf("after shutdown: %v", err)
	}
}
