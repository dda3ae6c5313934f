package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // TZ validates the same on hosts without /usr/share/zoneinfo
	"unicode"
)

// ReadDotEnv reads the project's .env with ParseDotEnv. A missing file is no error and
// gives an empty map, as in NanoClaw, where .env is optional; any other read failure is.
func ReadDotEnv(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return ParseDotEnv(data), nil
}

// ParseDotEnv is NanoClaw's .env parser (src/env.ts), so an existing .env reads the same:
// each line is trimmed; blank lines and lines starting with # are skipped, as are lines
// without '='; the key is what precedes the first '=' and the value what follows, both
// trimmed; one pair of matching quotes (' or ") around the value is removed, with no
// escape processing; an empty value is ignored; a later line overrides an earlier one.
// Beyond NanoClaw, an optional leading "export " is accepted so a .env can also be
// sourced by a shell, and a line with an empty key is skipped.
func ParseDotEnv(data []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(data), "\n") {
		line = trimJS(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "export"); ok && rest != "" && isBlank(rest[0]) {
			line = trimJS(rest)
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key, value = trimJS(key), trimJS(value)
		if n := len(value); n > 0 && (value[0] == '"' || value[0] == '\'') && value[n-1] == value[0] {
			value = value[1:max(n-1, 1)] // a lone quote is an empty value, as value.slice(1, -1)
		}
		if key == "" || value == "" {
			continue
		}
		out[key] = value
	}
	return out
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

// trimJS is JavaScript's String.prototype.trim, which NanoClaw's parser uses: unlike
// strings.TrimSpace it also strips a byte-order mark (U+FEFF), so a .env saved with one
// still parses, and keeps U+0085.
func trimJS(s string) string {
	return strings.TrimFunc(s, func(r rune) bool {
		return r == '\uFEFF' || r != '\u0085' && unicode.IsSpace(r)
	})
}

// MergedEnv looks a variable up in the environment first and the .env values second, as
// NanoClaw's `process.env.X || envConfig.X` does: an empty environment value does not hide
// the .env one. Besides the settings, callers use it for credentials such as
// ANTHROPIC_API_KEY that users keep in .env. A nil getenv means an empty environment.
func MergedEnv(getenv func(string) string, dotenv map[string]string) func(string) string {
	return func(name string) string {
		if getenv != nil {
			if v := getenv(name); v != "" {
				return v
			}
		}
		return dotenv[name]
	}
}

// Settings are NanoClaw's configuration variables, validated once at startup so that the
// rest of the host uses typed values and a typo is reported before anything runs.
type Settings struct {
	AssistantName string         // ASSISTANT_NAME: trigger "@Name" and reply prefix "Name:"
	HasOwnNumber  bool           // ASSISTANT_HAS_OWN_NUMBER: a dedicated number, replies unprefixed
	TZ            string         // TZ: IANA zone name for prompts, schedules and containers
	Location      *time.Location // TZ, loaded

	ContainerImage          string        // CONTAINER_IMAGE
	ContainerTimeout        time.Duration // CONTAINER_TIMEOUT: hard limit for one agent run
	IdleTimeout             time.Duration // IDLE_TIMEOUT: close an agent this long after its last result
	MaxConcurrentContainers int           // MAX_CONCURRENT_CONTAINERS
	MaxMessagesPerPrompt    int           // MAX_MESSAGES_PER_PROMPT
	MaxOutputBytes          int           // CONTAINER_MAX_OUTPUT_SIZE: per output stream
	LogLevel                string        // LOG_LEVEL: trace, debug, info, warn or error
	Model                   string        // NANOCLAW_MODEL: "" lets the agent runner choose
	MaxTokensPerDay         int64         // NANOCLAW_MAX_TOKENS_PER_DAY: 0 means no budget
	// NANOCLAW_COMPACT_AT: input tokens past which an agent's conversation is compacted
	// (by the model API, or by the agent runner where the endpoint cannot); 0 lets the
	// runner choose (150000).
	CompactAt int64
	// NANOCLAW_MAX_API_CONCURRENCY: how many model API requests one group may have in flight
	// at once; more wait their turn in order. It bounds how far concurrent requests can
	// take a group past its daily budget, and what one group takes of the API's rate limits.
	MaxAPIConcurrency int
	// NANOCLAW_PLUGIN_IDLE: a plugin unused this long releases its compiled code and
	// instances until its next call; 0 keeps plugins ready for ever.
	PluginIdle time.Duration
	// NANOCLAW_SHUTDOWN_GRACE: on SIGTERM, how long working agents may take to finish their
	// turn (their socket still serving) before their containers are stopped; 0 stops them
	// at once. What is left unanswered is answered after the restart.
	ShutdownGrace time.Duration
	// NANOCLAW_MEDIA_MAX_FILE: the largest received file (a photo, a document) kept in a
	// group's folder, in bytes; a larger one is described to the agent but not downloaded.
	MediaMaxFile int64
	// NANOCLAW_MEDIA_MAX_GROUP: how many bytes a group's media folder may hold; past it,
	// received files are described but not kept until the folder is cleared.
	MediaMaxGroup int64
}

// Defaults, NanoClaw's where NanoClaw has the variable.
const (
	DefaultAssistantName           = "Andy"
	DefaultContainerImage          = "nanoclaw-agent:latest"
	DefaultContainerTimeout        = 1800000 * time.Millisecond
	DefaultIdleTimeout             = 1800000 * time.Millisecond
	DefaultMaxConcurrentContainers = 5
	DefaultMaxMessagesPerPrompt    = 10
	DefaultMaxOutputBytes          = 10485760
	DefaultLogLevel                = "info"
	DefaultPluginIdle              = 30 * time.Minute
	DefaultShutdownGrace           = 30 * time.Second
	DefaultMaxAPIConcurrency       = 4
	MaxAPIConcurrencyLimit         = 256  // NANOCLAW_MAX_API_CONCURRENCY's largest value
	MinCompactAt                   = 1000 // NANOCLAW_COMPACT_AT's least: smaller would summarize every turn
	DefaultMediaMaxFile            = 25 << 20
	DefaultMediaMaxGroup           = 1 << 30
)

// BotPrefix is how the assistant's replies start on a shared number ("Andy:"), which is
// also how the host recognises its own messages coming back.
func (s Settings) BotPrefix() string { return s.AssistantName + ":" }

// DefaultTrigger is the trigger of a group registered without one ("@Andy").
func (s Settings) DefaultTrigger() string { return "@" + s.AssistantName }

// SettingError is one invalid variable. It names the variable, the value and what was
// expected, so the user can fix .env or the environment without reading the code.
type SettingError struct {
	Name     string
	Value    string
	Expected string
	Err      error // the underlying cause, if any
}

func (e *SettingError) Error() string {
	s := fmt.Sprintf("%s=%q: expected %s", e.Name, e.Value, e.Expected)
	if e.Err != nil {
		s += " (" + e.Err.Error() + ")"
	}
	return s
}

func (e *SettingError) Unwrap() error { return e.Err }

// LoadSettings reads every setting from the environment and the .env values, the
// environment winning (MergedEnv), applies NanoClaw's defaults to unset ones and validates
// the rest. All invalid values are reported together, joined with errors.Join, as
// *SettingError values, so one restart shows every mistake.
func LoadSettings(getenv func(string) string, dotenv map[string]string) (Settings, error) {
	return loadSettings(MergedEnv(getenv, dotenv), systemZone)
}

// loadSettings is LoadSettings with the system's zone name supplied, for tests.
func loadSettings(env func(string) string, sysZone func() string) (Settings, error) {
	p := parser{env: env}
	s := Settings{
		AssistantName:           p.name("ASSISTANT_NAME"),
		HasOwnNumber:            p.boolean("ASSISTANT_HAS_OWN_NUMBER"),
		ContainerImage:          p.str("CONTAINER_IMAGE", DefaultContainerImage),
		ContainerTimeout:        p.millis("CONTAINER_TIMEOUT", DefaultContainerTimeout),
		IdleTimeout:             p.millis("IDLE_TIMEOUT", DefaultIdleTimeout),
		MaxConcurrentContainers: int(p.integer("MAX_CONCURRENT_CONTAINERS", DefaultMaxConcurrentContainers, 1, math.MaxInt32)),
		MaxMessagesPerPrompt:    int(p.integer("MAX_MESSAGES_PER_PROMPT", DefaultMaxMessagesPerPrompt, 1, math.MaxInt32)),
		MaxOutputBytes:          int(p.integer("CONTAINER_MAX_OUTPUT_SIZE", DefaultMaxOutputBytes, 1, math.MaxInt)),
		LogLevel:                p.logLevel("LOG_LEVEL"),
		Model:                   p.str("NANOCLAW_MODEL", ""),
		MaxTokensPerDay:         p.integer("NANOCLAW_MAX_TOKENS_PER_DAY", 0, 0, math.MaxInt64),
		CompactAt:               p.integer("NANOCLAW_COMPACT_AT", 0, MinCompactAt, math.MaxInt64),
		MaxAPIConcurrency:       int(p.integer("NANOCLAW_MAX_API_CONCURRENCY", DefaultMaxAPIConcurrency, 1, MaxAPIConcurrencyLimit)),
		PluginIdle:              p.millisOrZero("NANOCLAW_PLUGIN_IDLE", DefaultPluginIdle),
		ShutdownGrace:           p.millisOrZero("NANOCLAW_SHUTDOWN_GRACE", DefaultShutdownGrace),
		MediaMaxFile:            p.bytes("NANOCLAW_MEDIA_MAX_FILE", DefaultMediaMaxFile),
		MediaMaxGroup:           p.bytes("NANOCLAW_MEDIA_MAX_GROUP", DefaultMediaMaxGroup),
	}
	s.TZ, s.Location = p.zone("TZ", sysZone)
	if err := errors.Join(p.errs...); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// parser reads variables and collects what is wrong with them.
type parser struct {
	env  func(string) string
	errs []error
}

func (p *parser) get(name string) string { return strings.TrimSpace(p.env(name)) }

func (p *parser) fail(name, value, expected string, err error) {
	p.errs = append(p.errs, &SettingError{Name: name, Value: value, Expected: expected, Err: err})
}

func (p *parser) str(name, def string) string {
	if v := p.get(name); v != "" {
		return v
	}
	return def
}

func (p *parser) name(name string) string {
	v := p.get(name)
	if v == "" {
		return DefaultAssistantName
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		p.fail(name, v, "a name without control characters or line breaks", nil)
	}
	return v
}

func (p *parser) boolean(name string) bool {
	switch v := p.get(name); strings.ToLower(v) {
	case "", "false", "0":
		return false
	case "true", "1":
		return true
	default:
		p.fail(name, v, "true, false, 1 or 0", nil)
		return false
	}
}

// integer reads a whole number in [lo, hi]; unset gives def.
func (p *parser) integer(name string, def, lo, hi int64) int64 {
	v := p.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err == nil && (n < lo || n > hi) {
		err = strconv.ErrRange
	}
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			err = ne.Err
		}
		p.fail(name, v, fmt.Sprintf("a whole number from %d to %d", lo, hi), err)
		return def
	}
	return n
}

// bytes reads a positive size: a number of bytes, or with a unit such as 25MB, 1GiB or
// 500k (KB and KiB alike are 1024 bytes, as people mean for files); unset gives def.
func (p *parser) bytes(name string, def int64) int64 {
	const expected = "a positive size in bytes, or with a unit such as 25MB or 1GB"
	v := p.get(name)
	if v == "" {
		return def
	}
	num := strings.TrimRightFunc(v, func(r rune) bool { return unicode.IsLetter(r) || r == ' ' })
	unit := strings.ToUpper(strings.TrimSpace(v[len(num):]))
	mult := map[string]int64{"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MB": 1 << 20, "MIB": 1 << 20,
		"G": 1 << 30, "GB": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}[unit]
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if mult == 0 || err != nil || f <= 0 || f*float64(mult) >= math.MaxInt64 || math.IsNaN(f) {
		p.fail(name, v, expected, nil)
		return def
	}
	return max(int64(f*float64(mult)), 1)
}

// millis reads a duration given in milliseconds, as NanoClaw does, or as a Go duration
// such as "30m"; it must be positive.
func (p *parser) millis(name string, def time.Duration) time.Duration {
	const expected = "a positive number of milliseconds such as 1800000, or a duration such as 30m"
	v := p.get(name)
	if v == "" {
		return def
	}
	var d time.Duration
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		if ms <= 0 || ms > math.MaxInt64/int64(time.Millisecond) {
			p.fail(name, v, expected, strconv.ErrRange)
			return def
		}
		d = time.Duration(ms) * time.Millisecond
	} else if d, err = time.ParseDuration(v); err != nil || d <= 0 {
		p.fail(name, v, expected, nil)
		return def
	}
	return d
}

// millisOrZero is millis that also accepts 0, meaning off.
func (p *parser) millisOrZero(name string, def time.Duration) time.Duration {
	if v := p.get(name); v == "0" || v == "0s" {
		return 0
	}
	return p.millis(name, def)
}

func (p *parser) logLevel(name string) string {
	v := strings.ToLower(p.get(name))
	switch v {
	case "":
		return DefaultLogLevel
	case "trace", "debug", "info", "warn", "error":
		return v
	default:
		p.fail(name, p.get(name), "trace, debug, info, warn or error", nil)
		return DefaultLogLevel
	}
}

// zone resolves TZ as NanoClaw does (environment, then .env, then the system's zone, then
// UTC), except that a TZ that is set but unknown is an error rather than silently UTC.
// The glibc form ":Area/City" or ":/path/to/zoneinfo/Area/City" is accepted.
func (p *parser) zone(name string, sysZone func() string) (string, *time.Location) {
	v := p.get(name)
	if v == "" {
		if z := sysZone(); z != "" {
			if loc, err := loadZone(z); err == nil {
				return z, loc
			}
		}
		return "UTC", time.UTC
	}
	z := strings.TrimPrefix(v, ":")
	if filepath.IsAbs(z) {
		z = zoneFromPath(z)
	}
	loc, err := loadZone(z)
	if err != nil {
		p.fail(name, v, "an IANA time zone name such as Europe/London or UTC", err)
		return "UTC", time.UTC
	}
	return z, loc
}

// loadZone loads an IANA zone by name, refusing "" and "Local", which time.LoadLocation
// accepts but which name no zone that a prompt or a container could be given.
func loadZone(z string) (*time.Location, error) {
	if z == "" || z == "Local" {
		return nil, fmt.Errorf("not a zone name: %q", z)
	}
	return time.LoadLocation(z)
}

// systemZone names the machine's zone, as Intl's resolvedOptions().timeZone does for
// NanoClaw: the zoneinfo file /etc/localtime links to, else /etc/timezone; "" if neither.
func systemZone() string {
	if z := zoneFromPath("/etc/localtime"); z != "" {
		return z
	}
	if b, err := os.ReadFile("/etc/timezone"); err == nil {
		if z, _, _ := strings.Cut(string(b), "\n"); strings.TrimSpace(z) != "" {
			return strings.TrimSpace(z)
		}
	}
	return ""
}

// zoneFromPath gives the zone name of a zoneinfo file path after resolving links
// (/usr/share/zoneinfo/Europe/London → Europe/London), or "" when it is not under a
// zoneinfo directory.
func zoneFromPath(path string) string {
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	path = filepath.ToSlash(path)
	i := strings.LastIndex(path, "/zoneinfo/")
	if i < 0 {
		return ""
	}
	z := path[i+len("/zoneinfo/"):]
	for _, dir := range []string{"posix/", "right/"} {
		z = strings.TrimPrefix(z, dir)
	}
	return z
}
