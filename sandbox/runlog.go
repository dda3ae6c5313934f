package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// writeRunLog writes LogDir/container-<timestamp>.log: a header always; the input summary,
// mounts, stderr and stdout on error or in debug. The run request holds no secret (none ever
// enters a container), and nothing else is logged. It returns the file's path, or "" when
// no log was written.
//
// LogDir is the host's alone (data/logs/<folder>, never mounted), so plain os calls are safe
// there. What the agent produced is not: every string from the run (stdout, stderr, the
// error text, the session id, the request, mount paths) is escaped with logSafe, and the
// multi-line blocks are written one "| "-prefixed line per line. No newline, carriage return
// or terminal escape an agent prints can start a log line of its own (a forged
// "=== Container run ===") or reach the terminal of whoever reads the log.
func writeRunLog(cfg RunConfig, spec Spec, req RunRequest, res RunResult, stdout, stderr *capped) string {
	if cfg.LogDir == "" {
		return ""
	}
	if err := privateDir(cfg.LogDir); err != nil {
		return ""
	}
	now := time.Now().UTC()
	var b strings.Builder
	fmt.Fprintf(&b, "=== Container run ===\ntime: %s\ncontainer: %s\ngroup: %s\nmain: %v\nduration: %v\nexit code: %d\nstatus: %s\ntimed out: %v\nhad output: %v\nstdout truncated: %v (%d bytes dropped)\nstderr truncated: %v (%d bytes dropped)\n",
		now.Format(time.RFC3339), logSafe(spec.Name), logSafe(req.GroupFolder), req.IsMain, res.Duration.Round(time.Millisecond),
		res.ExitCode, logSafe(res.Status), res.TimedOut, res.HadOutput, stdout.dropped > 0, stdout.dropped, stderr.dropped > 0, stderr.dropped)
	if res.Error != "" {
		fmt.Fprintf(&b, "error: %s\n", logSafe(res.Error))
	}
	if res.Status != "success" || cfg.Debug {
		fmt.Fprintf(&b, "\n=== Input ===\nprompt: %d bytes\nsession: %s\nscheduled task: %v\n", len(req.Prompt), logSafe(req.SessionID), req.IsScheduledTask)
		if cfg.Debug {
			in, _ := json.MarshalIndent(req, "", "  ")
			writeBlock(&b, string(in))
		}
		b.WriteString("\n=== Mounts ===\n")
		for _, m := range spec.Mounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			fmt.Fprintf(&b, "%s -> %s (%s)\n", logSafe(m.Source), logSafe(m.Target), mode)
		}
		b.WriteString("\n=== Stderr ===\n")
		writeBlock(&b, stderr.buf.String())
		b.WriteString("\n=== Stdout ===\n")
		writeBlock(&b, stdout.buf.String())
	} else {
		b.WriteString("\n=== Mounts ===\n")
		for _, m := range spec.Mounts {
			fmt.Fprintf(&b, "%s\n", logSafe(m.Target))
		}
	}
	path, err := createLog(cfg.LogDir, now, b.String())
	if err != nil {
		return ""
	}
	return path
}

// privateDir makes dir (and any missing parent) mode 0700: run logs hold what users wrote.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("run log directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { // it may have existed, looser
		return fmt.Errorf("run log directory: %w", err)
	}
	return nil
}

// createLog writes text to a new 0600 file container-<ts>.log in dir; a second run ending in
// the same millisecond gets container-<ts>-1.log rather than overwriting the first.
func createLog(dir string, now time.Time, text string) (string, error) {
	ts := strings.NewReplacer(":", "-", ".", "-").Replace(now.Format("2006-01-02T15:04:05.000Z"))
	for n := 0; n < 100; n++ {
		name := "container-" + ts
		if n > 0 {
			name += "-" + strconv.Itoa(n)
		}
		path := filepath.Join(dir, name+".log")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("run log: %w", err)
		}
		_, err = f.WriteString(text)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("run log: %w", err)
		}
		return path, nil
	}
	return "", fmt.Errorf("run log: no free name for container-%s.log", ts)
}

// logPrefix starts every line of a block the agent produced.
const logPrefix = "| "

// writeBlock writes text (stdout, stderr, the request) one escaped, prefixed line per line.
func writeBlock(b *strings.Builder, text string) {
	text = strings.TrimSuffix(text, "\n")
	if text == "" {
		return
	}
	for line := range strings.SplitSeq(text, "\n") {
		b.WriteString(logPrefix)
		b.WriteString(logSafe(line))
		b.WriteByte('\n')
	}
}

// logSafe makes s safe for one log line: control characters (newline, carriage return,
// escape, ...), invalid UTF-8 and non-printing runes (line separators, bidi overrides)
// become Go escapes (\n, \x1b, \u2028), and a backslash is doubled so that an escape the
// agent typed cannot pass for one logSafe made. Tabs stay as they are.
func logSafe(s string) string {
	clean := true
	for _, r := range s {
		if r == '\\' || r == utf8.RuneError || (r != '\t' && !unicode.IsPrint(r)) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t' || unicode.IsPrint(r):
			b.WriteString(s[i : i+size])
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += size
	}
	return b.String()
}
