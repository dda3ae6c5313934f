// Command sockcat is the hostile-agent suite's socket tool, added to a test image built
// FROM the minimal agent image (which has only bash and busybox, neither of which can speak
// to a Unix socket). It sends HTTP requests, raw bytes, floods and stalled connections to
// the agent socket and prints one line per outcome:
//
//	[tag] status=403 body={"ok":false,...}
//
// Only the standard library: it is built with CGO_ENABLED=0 and runs FROM scratch.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	sock := flag.String("sock", "/run/nanoclaw/agent.sock", "the Unix socket")
	tag := flag.String("tag", "", "label printed before each outcome")
	method := flag.String("X", "POST", "HTTP method")
	path := flag.String("path", "/ipc", "request path (with query)")
	body := flag.String("d", "", "request body; @- reads stdin")
	pad := flag.Int("pad", 0, "send a message request to -jid padded to this many bytes")
	jid := flag.String("jid", "", "chat of the -pad message")
	chunked := flag.Bool("chunked", false, "send the body chunked, without Content-Length")
	raw := flag.Bool("raw", false, "write -d verbatim (\\r and \\n unescaped) and print the raw answer")
	n := flag.Int("n", 1, "repeat the request n times (0: until -until exists) and print a histogram")
	conc := flag.Int("c", 1, "concurrent senders for -n")
	hold := flag.Int("hold", 0, "open this many connections sending headers one byte a second")
	until := flag.String("until", "", "for -n 0 and -hold: stop once this file exists")
	ready := flag.String("ready", "", "for -hold: create this file once the connections are open")
	mkfifo := flag.String("mkfifo", "", "make a FIFO at this path and exit")
	flag.Parse()
	if *tag != "" {
		*tag = "[" + *tag + "] "
	}
	if *mkfifo != "" {
		if err := syscall.Mkfifo(*mkfifo, 0o644); err != nil {
			fmt.Printf("%smkfifo: %v\n", *tag, err)
			os.Exit(1)
		}
		fmt.Printf("%smkfifo ok\n", *tag)
		return
	}
	payload := []byte(*body)
	if *body == "@-" {
		payload, _ = io.ReadAll(os.Stdin)
	}
	if *pad > 0 {
		head := fmt.Sprintf(`{"type":"message","chatJid":%q,"text":"`, *jid)
		fill := max(*pad-len(head)-2, 0)
		payload = append(append([]byte(head), bytes.Repeat([]byte("A"), fill)...), '"', '}')
	}
	switch {
	case *raw:
		rawRequest(*sock, *tag, payload)
	case *hold > 0:
		holdOpen(*sock, *tag, *hold, *ready, *until)
	case *n != 1:
		flood(*sock, *tag, *method, *path, payload, *n, *conc, *until)
	default:
		status, resp, err := do(client(*sock), *method, *path, payload, *chunked)
		if err != nil {
			fmt.Printf("%serror=%v\n", *tag, err)
			return
		}
		fmt.Printf("%sstatus=%d body=%s\n", *tag, status, oneLine(resp))
	}
}

func client(sock string) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: 16,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
}

func do(c *http.Client, method, path string, body []byte, chunked bool) (int, []byte, error) {
	var r io.Reader = bytes.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length: the transport sends it chunked
	}
	if len(body) == 0 && !chunked {
		r = nil
	}
	req, err := http.NewRequest(method, "http://agent"+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, b, nil
}

func oneLine(b []byte) string {
	s := strings.TrimSpace(string(b))
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

func exists(p string) bool {
	if p == "" {
		return false
	}
	_, err := os.Lstat(p)
	return err == nil
}

// flood sends the request n times (or until the file exists) from conc senders and prints
// how many answers of each status came back.
func flood(sock, tag, method, path string, body []byte, n, conc int, until string) {
	c := client(sock)
	var mu sync.Mutex
	hist := map[string]int{}
	var left atomic.Int64
	left.Store(int64(n))
	start := time.Now()
	var wg sync.WaitGroup
	for range max(conc, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				if n > 0 && left.Add(-1) < 0 {
					return
				}
				if n <= 0 && i%16 == 0 && exists(until) {
					return
				}
				if n <= 0 && time.Since(start) > 2*time.Minute {
					return
				}
				status, _, err := do(c, method, path, body, false)
				k := fmt.Sprint(status)
				if err != nil {
					k = "err"
				}
				mu.Lock()
				hist[k]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	keys := make([]string, 0, len(hist))
	for k := range hist {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, hist[k]))
	}
	fmt.Printf("%scodes %s in %v\n", tag, strings.Join(parts, " "), time.Since(start).Round(time.Millisecond))
}

// rawRequest writes bytes as they are and prints what came back.
func rawRequest(sock, tag string, payload []byte) {
	payload = bytes.ReplaceAll(payload, []byte(`\r`), []byte("\r"))
	payload = bytes.ReplaceAll(payload, []byte(`\n`), []byte("\n"))
	conn, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Printf("%serror=%v\n", tag, err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(payload); err != nil {
		fmt.Printf("%swrite error=%v\n", tag, err)
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		fmt.Printf("%sread error=%v\n", tag, err)
		return
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	fmt.Printf("%sstatus=%d body=%s\n", tag, resp.StatusCode, oneLine(b))
}

// holdOpen opens n connections and trickles a never-ending header into each, one byte a
// second, until the file exists; then it reports how many the server had closed.
func holdOpen(sock, tag string, n int, ready, until string) {
	var conns []net.Conn
	for range n {
		c, err := net.Dial("unix", sock)
		if err != nil {
			break
		}
		if _, err := c.Write([]byte("POST /ipc HTTP/1.1\r\nHost: agent\r\nX-Slow: ")); err != nil {
			c.Close()
			break
		}
		conns = append(conns, c)
	}
	if ready != "" {
		if err := os.WriteFile(ready, nil, 0o644); err != nil {
			fmt.Printf("%sready: %v\n", tag, err)
		}
	}
	closed := make([]bool, len(conns))
	start := time.Now()
	for !exists(until) && time.Since(start) < 2*time.Minute {
		for i, c := range conns {
			if closed[i] {
				continue
			}
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			if _, err := c.Write([]byte("a")); err != nil {
				closed[i] = true
			}
		}
		time.Sleep(time.Second) // the slowloris pace, not a wait for an event
	}
	shut := 0
	for i, c := range conns {
		if closed[i] {
			shut++
		}
		c.Close()
	}
	fmt.Printf("%sheld %d for %v, %d closed by the server\n", tag, len(conns), time.Since(start).Round(time.Second), shut)
}
