package config

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestParseDotEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want map[string]string
	}{
		{"empty file", "", map[string]string{}},
		{"simple", "ASSISTANT_NAME=Andy\nTZ=Europe/London\n", map[string]string{"ASSISTANT_NAME": "Andy", "TZ": "Europe/London"}},
		{"blank lines and comments", "\n  \n# a comment\n  # indented comment\nA=1\n", map[string]string{"A": "1"}},
		{"comment marker inside a value is kept", "A=x # not a comment", map[string]string{"A": "x # not a comment"}},
		{"line without = skipped", "JUSTAKEY\nB=2", map[string]string{"B": "2"}},
		{"split at the first =", "URL=https://x/?a=b&c=d", map[string]string{"URL": "https://x/?a=b&c=d"}},
		{"key and value trimmed", "  A  =  spaced value  ", map[string]string{"A": "spaced value"}},
		{"double quotes stripped", `A="hello world"`, map[string]string{"A": "hello world"}},
		{"single quotes stripped", `A='hello world'`, map[string]string{"A": "hello world"}},
		{"only one pair stripped", `A=""quoted""`, map[string]string{"A": `"quoted"`}},
		{"mismatched quotes kept", `A="hello'`, map[string]string{"A": `"hello'`}},
		{"quote on one side kept", `A="hello`, map[string]string{"A": `"hello`}},
		{"spaces inside quotes kept", `A="  x  "`, map[string]string{"A": "  x  "}},
		{"no escape processing", `A="a\nb"`, map[string]string{"A": `a\nb`}},
		{"= inside quotes", `A="k=v"`, map[string]string{"A": "k=v"}},
		{"empty value ignored", "A=\nB=2", map[string]string{"B": "2"}},
		{"empty quoted value ignored", "A=\"\"\nB=''", map[string]string{}},
		{"lone quote is empty", `A="`, map[string]string{}},
		{"empty key ignored", "=value", map[string]string{}},
		{"later line wins", "A=1\nA=2", map[string]string{"A": "2"}},
		{"empty later value does not clear", "A=1\nA=", map[string]string{"A": "1"}},
		{"export prefix", "export A=1\nexport\tB='two'", map[string]string{"A": "1", "B": "two"}},
		{"export with extra spaces", "export    A = 1", map[string]string{"A": "1"}},
		{"key named export", "export=1", map[string]string{"export": "1"}},
		{"key starting with export", "exporter=1", map[string]string{"exporter": "1"}},
		{"CRLF line endings", "A=1\r\nB=\"2\"\r\n", map[string]string{"A": "1", "B": "2"}},
		{"byte-order mark", "\uFEFFA=1", map[string]string{"A": "1"}},
		{"value with inner spaces", "A=a b  c", map[string]string{"A": "a b  c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseDotEnv([]byte(tc.in)); !maps.Equal(got, tc.want) {
				t.Errorf("ParseDotEnv(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestReadDotEnv(t *testing.T) {
	dir := t.TempDir()
	t.Run("missing file", func(t *testing.T) {
		got, err := ReadDotEnv(filepath.Join(dir, "nope", ".env"))
		if err != nil || got == nil || len(got) != 0 {
			t.Fatalf("ReadDotEnv(missing) = %v, %v; want empty map, nil", got, err)
		}
	})
	t.Run("file", func(t *testing.T) {
		p := filepath.Join(dir, ".env")
		if err := os.WriteFile(p, []byte("# settings\nASSISTANT_NAME='Claw'\nTZ=Asia/Tokyo\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadDotEnv(p)
		want := map[string]string{"ASSISTANT_NAME": "Claw", "TZ": "Asia/Tokyo"}
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("ReadDotEnv = %v, %v; want %v", got, err, want)
		}
	})
	t.Run("unreadable", func(t *testing.T) {
		if _, err := ReadDotEnv(dir); err == nil || !strings.Contains(err.Error(), dir) {
			t.Fatalf("ReadDotEnv(directory) error = %v, want one naming the path", err)
		}
	})
}

func TestMergedEnv(t *testing.T) {
	env := envOf(map[string]string{"BOTH": "env", "ENV_ONLY": "e", "EMPTY_IN_ENV": ""})
	dot := map[string]string{"BOTH": "dotenv", "DOT_ONLY": "d", "EMPTY_IN_ENV": "from .env"}
	get := MergedEnv(env, dot)
	for k, want := range map[string]string{
		"BOTH": "env", "ENV_ONLY": "e", "DOT_ONLY": "d", "EMPTY_IN_ENV": "from .env", "NEITHER": "",
	} {
		if got := get(k); got != want {
			t.Errorf("MergedEnv(%s) = %q, want %q", k, got, want)
		}
	}
	if got := MergedEnv(nil, dot)("DOT_ONLY"); got != "d" {
		t.Errorf("MergedEnv(nil getenv) = %q, want d", got)
	}
	if got := MergedEnv(env, nil)("ENV_ONLY"); got != "e" {
		t.Errorf("MergedEnv(nil dotenv) = %q, want e", got)
	}
}

func TestLoadSettingsDefaults(t *testing.T) {
	s, err := loadSettings(envOf(nil), func() string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	want := Settings{
		AssistantName:           "Andy",
		TZ:                      "UTC",
		Location:                time.UTC,
		ContainerImage:          "nanoclaw-agent:latest",
		ContainerTimeout:        30 * time.Minute,
		IdleTimeout:             30 * time.Minute,
		MaxConcurrentContainers: 5,
		MaxMessagesPerPrompt:    10,
		MaxOutputBytes:          10485760,
		LogLevel:                "info",
		PluginIdle:              30 * time.Minute,
		ShutdownGrace:           30 * time.Second,
		MaxAPIConcurrency:       4,
		MediaMaxFile:            25 << 20,
		MediaMaxGroup:           1 << 30,
	}
	if s != want {
		t.Errorf("defaults = %+v\nwant %+v", s, want)
	}
	if s.BotPrefix() != "Andy:" || s.DefaultTrigger() != "@Andy" {
		t.Errorf("BotPrefix, DefaultTrigger = %q, %q", s.BotPrefix(), s.DefaultTrigger())
	}
}

func TestLoadSettingsPublic(t *testing.T) {
	// The real system zone is whatever the machine has; it must at least load.
	s, err := LoadSettings(envOf(map[string]string{"ASSISTANT_NAME": "Claw"}), map[string]string{"ASSISTANT_NAME": "Dot", "LOG_LEVEL": "debug"})
	if err != nil {
		t.Fatal(err)
	}
	if s.AssistantName != "Claw" || s.LogLevel != "debug" || s.Location == nil || s.TZ == "" || s.TZ == "Local" {
		t.Errorf("LoadSettings = %+v", s)
	}
	if s.BotPrefix() != "Claw:" || s.DefaultTrigger() != "@Claw" {
		t.Errorf("BotPrefix, DefaultTrigger = %q, %q", s.BotPrefix(), s.DefaultTrigger())
	}
}

func TestLoadSettingsVariables(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		sysZone string
		check   func(Settings) bool
		bad     string // when set, the variable the error must name
	}{
		{name: "ASSISTANT_NAME", env: map[string]string{"ASSISTANT_NAME": "Claw"}, check: func(s Settings) bool { return s.AssistantName == "Claw" }},
		{name: "ASSISTANT_NAME trimmed", env: map[string]string{"ASSISTANT_NAME": "  Claw "}, check: func(s Settings) bool { return s.AssistantName == "Claw" }},
		{name: "ASSISTANT_NAME with a space", env: map[string]string{"ASSISTANT_NAME": "Big Claw"}, check: func(s Settings) bool { return s.DefaultTrigger() == "@Big Claw" }},
		{name: "ASSISTANT_NAME blank is default", env: map[string]string{"ASSISTANT_NAME": "   "}, check: func(s Settings) bool { return s.AssistantName == "Andy" }},
		{name: "ASSISTANT_NAME line break", env: map[string]string{"ASSISTANT_NAME": "An\ndy"}, bad: "ASSISTANT_NAME"},

		{name: "ASSISTANT_HAS_OWN_NUMBER true", env: map[string]string{"ASSISTANT_HAS_OWN_NUMBER": "true"}, check: func(s Settings) bool { return s.HasOwnNumber }},
		{name: "ASSISTANT_HAS_OWN_NUMBER TRUE", env: map[string]string{"ASSISTANT_HAS_OWN_NUMBER": "TRUE"}, check: func(s Settings) bool { return s.HasOwnNumber }},
		{name: "ASSISTANT_HAS_OWN_NUMBER 1", env: map[string]string{"ASSISTANT_HAS_OWN_NUMBER": "1"}, check: func(s Settings) bool { return s.HasOwnNumber }},
		{name: "ASSISTANT_HAS_OWN_NUMBER false", env: map[string]string{"ASSISTANT_HAS_OWN_NUMBER": "false"}, check: func(s Settings) bool { return !s.HasOwnNumber }},
		{name: "ASSISTANT_HAS_OWN_NUMBER 0", env: map[string]string{"ASSISTANT_HAS_OWN_NUMBER": "0"}, check: func(s Settings) bool { return !s.HasOwnNumber }},
		{name: "ASSISTANT_HAS_OWN_NUMBER yes", env: map[string]string{"ASSISTANT_HAS_OWN_NUMBER": "yes"}, bad: "ASSISTANT_HAS_OWN_NUMBER"},

		{name: "TZ", env: map[string]string{"TZ": "Asia/Tokyo"}, check: func(s Settings) bool { return s.TZ == "Asia/Tokyo" && s.Location.String() == tokyo.String() }},
		{name: "TZ UTC", env: map[string]string{"TZ": "UTC"}, check: func(s Settings) bool { return s.TZ == "UTC" && s.Location.String() == "UTC" }},
		{name: "TZ glibc colon form", env: map[string]string{"TZ": ":Asia/Tokyo"}, check: func(s Settings) bool { return s.TZ == "Asia/Tokyo" }},
		{name: "TZ invalid", env: map[string]string{"TZ": "IST-2"}, bad: "TZ"},
		{name: "TZ garbage", env: map[string]string{"TZ": "NotATimezone"}, bad: "TZ"},
		{name: "TZ Local", env: map[string]string{"TZ": "Local"}, bad: "TZ"},
		{name: "TZ path escape", env: map[string]string{"TZ": "../../etc/passwd"}, bad: "TZ"},
		{name: "TZ path outside zoneinfo", env: map[string]string{"TZ": ":/etc/passwd"}, bad: "TZ"},
		{name: "TZ unset uses the system zone", sysZone: "Asia/Tokyo", check: func(s Settings) bool { return s.TZ == "Asia/Tokyo" }},
		{name: "TZ unset, invalid system zone is UTC", sysZone: "Mars/Olympus", check: func(s Settings) bool { return s.TZ == "UTC" && s.Location == time.UTC }},
		{name: "TZ beats the system zone", env: map[string]string{"TZ": "Europe/London"}, sysZone: "Asia/Tokyo", check: func(s Settings) bool { return s.TZ == "Europe/London" }},

		{name: "CONTAINER_IMAGE", env: map[string]string{"CONTAINER_IMAGE": "my/agent:v2"}, check: func(s Settings) bool { return s.ContainerImage == "my/agent:v2" }},

		{name: "CONTAINER_TIMEOUT milliseconds", env: map[string]string{"CONTAINER_TIMEOUT": "60000"}, check: func(s Settings) bool { return s.ContainerTimeout == time.Minute }},
		{name: "CONTAINER_TIMEOUT Go duration", env: map[string]string{"CONTAINER_TIMEOUT": "1h30m"}, check: func(s Settings) bool { return s.ContainerTimeout == 90*time.Minute }},
		{name: "CONTAINER_TIMEOUT zero", env: map[string]string{"CONTAINER_TIMEOUT": "0"}, bad: "CONTAINER_TIMEOUT"},
		{name: "CONTAINER_TIMEOUT negative", env: map[string]string{"CONTAINER_TIMEOUT": "-5"}, bad: "CONTAINER_TIMEOUT"},
		{name: "CONTAINER_TIMEOUT negative duration", env: map[string]string{"CONTAINER_TIMEOUT": "-5m"}, bad: "CONTAINER_TIMEOUT"},
		{name: "CONTAINER_TIMEOUT words", env: map[string]string{"CONTAINER_TIMEOUT": "thirty minutes"}, bad: "CONTAINER_TIMEOUT"},
		{name: "CONTAINER_TIMEOUT overflow", env: map[string]string{"CONTAINER_TIMEOUT": "9223372036854775"}, bad: "CONTAINER_TIMEOUT"},
		{name: "CONTAINER_TIMEOUT unitless float", env: map[string]string{"CONTAINER_TIMEOUT": "1.5"}, bad: "CONTAINER_TIMEOUT"},

		{name: "IDLE_TIMEOUT milliseconds", env: map[string]string{"IDLE_TIMEOUT": "300000"}, check: func(s Settings) bool { return s.IdleTimeout == 5*time.Minute }},
		{name: "IDLE_TIMEOUT Go duration", env: map[string]string{"IDLE_TIMEOUT": "45s"}, check: func(s Settings) bool { return s.IdleTimeout == 45*time.Second }},
		{name: "IDLE_TIMEOUT invalid", env: map[string]string{"IDLE_TIMEOUT": "soon"}, bad: "IDLE_TIMEOUT"},

		{name: "MAX_CONCURRENT_CONTAINERS", env: map[string]string{"MAX_CONCURRENT_CONTAINERS": "2"}, check: func(s Settings) bool { return s.MaxConcurrentContainers == 2 }},
		{name: "MAX_CONCURRENT_CONTAINERS 1", env: map[string]string{"MAX_CONCURRENT_CONTAINERS": "1"}, check: func(s Settings) bool { return s.MaxConcurrentContainers == 1 }},
		{name: "MAX_CONCURRENT_CONTAINERS 0", env: map[string]string{"MAX_CONCURRENT_CONTAINERS": "0"}, bad: "MAX_CONCURRENT_CONTAINERS"},
		{name: "MAX_CONCURRENT_CONTAINERS text", env: map[string]string{"MAX_CONCURRENT_CONTAINERS": "five"}, bad: "MAX_CONCURRENT_CONTAINERS"},
		{name: "MAX_CONCURRENT_CONTAINERS huge", env: map[string]string{"MAX_CONCURRENT_CONTAINERS": "99999999999"}, bad: "MAX_CONCURRENT_CONTAINERS"},

		{name: "MAX_MESSAGES_PER_PROMPT", env: map[string]string{"MAX_MESSAGES_PER_PROMPT": "25"}, check: func(s Settings) bool { return s.MaxMessagesPerPrompt == 25 }},
		{name: "MAX_MESSAGES_PER_PROMPT negative", env: map[string]string{"MAX_MESSAGES_PER_PROMPT": "-1"}, bad: "MAX_MESSAGES_PER_PROMPT"},

		{name: "CONTAINER_MAX_OUTPUT_SIZE", env: map[string]string{"CONTAINER_MAX_OUTPUT_SIZE": "1048576"}, check: func(s Settings) bool { return s.MaxOutputBytes == 1<<20 }},
		{name: "CONTAINER_MAX_OUTPUT_SIZE 0", env: map[string]string{"CONTAINER_MAX_OUTPUT_SIZE": "0"}, bad: "CONTAINER_MAX_OUTPUT_SIZE"},
		{name: "CONTAINER_MAX_OUTPUT_SIZE with unit", env: map[string]string{"CONTAINER_MAX_OUTPUT_SIZE": "10MB"}, bad: "CONTAINER_MAX_OUTPUT_SIZE"},

		{name: "LOG_LEVEL each", env: map[string]string{"LOG_LEVEL": "trace"}, check: func(s Settings) bool { return s.LogLevel == "trace" }},
		{name: "LOG_LEVEL warn", env: map[string]string{"LOG_LEVEL": "warn"}, check: func(s Settings) bool { return s.LogLevel == "warn" }},
		{name: "LOG_LEVEL error", env: map[string]string{"LOG_LEVEL": "error"}, check: func(s Settings) bool { return s.LogLevel == "error" }},
		{name: "LOG_LEVEL upper case", env: map[string]string{"LOG_LEVEL": "DEBUG"}, check: func(s Settings) bool { return s.LogLevel == "debug" }},
		{name: "LOG_LEVEL invalid", env: map[string]string{"LOG_LEVEL": "verbose"}, bad: "LOG_LEVEL"},

		{name: "NANOCLAW_MODEL", env: map[string]string{"NANOCLAW_MODEL": "claude-sonnet-4-5"}, check: func(s Settings) bool { return s.Model == "claude-sonnet-4-5" }},

		{name: "NANOCLAW_MAX_TOKENS_PER_DAY", env: map[string]string{"NANOCLAW_MAX_TOKENS_PER_DAY": "2000000"}, check: func(s Settings) bool { return s.MaxTokensPerDay == 2000000 }},
		{name: "NANOCLAW_MAX_TOKENS_PER_DAY 0", env: map[string]string{"NANOCLAW_MAX_TOKENS_PER_DAY": "0"}, check: func(s Settings) bool { return s.MaxTokensPerDay == 0 }},
		{name: "NANOCLAW_MAX_TOKENS_PER_DAY negative", env: map[string]string{"NANOCLAW_MAX_TOKENS_PER_DAY": "-1"}, bad: "NANOCLAW_MAX_TOKENS_PER_DAY"},
		{name: "NANOCLAW_MAX_TOKENS_PER_DAY 1e6", env: map[string]string{"NANOCLAW_MAX_TOKENS_PER_DAY": "1e6"}, bad: "NANOCLAW_MAX_TOKENS_PER_DAY"},
		{name: "NANOCLAW_COMPACT_AT", env: map[string]string{"NANOCLAW_COMPACT_AT": "80000"}, check: func(s Settings) bool { return s.CompactAt == 80000 }},
		{name: "NANOCLAW_COMPACT_AT unset", env: map[string]string{}, check: func(s Settings) bool { return s.CompactAt == 0 }},
		{name: "NANOCLAW_COMPACT_AT too small", env: map[string]string{"NANOCLAW_COMPACT_AT": "999"}, bad: "NANOCLAW_COMPACT_AT"},
		{name: "NANOCLAW_COMPACT_AT 150k", env: map[string]string{"NANOCLAW_COMPACT_AT": "150k"}, bad: "NANOCLAW_COMPACT_AT"},
		{name: "NANOCLAW_MAX_API_CONCURRENCY", env: map[string]string{"NANOCLAW_MAX_API_CONCURRENCY": "2"}, check: func(s Settings) bool { return s.MaxAPIConcurrency == 2 }},
		{name: "NANOCLAW_MAX_API_CONCURRENCY default", env: map[string]string{}, check: func(s Settings) bool { return s.MaxAPIConcurrency == DefaultMaxAPIConcurrency }},
		{name: "NANOCLAW_MAX_API_CONCURRENCY 0", env: map[string]string{"NANOCLAW_MAX_API_CONCURRENCY": "0"}, bad: "NANOCLAW_MAX_API_CONCURRENCY"},
		{name: "NANOCLAW_MAX_API_CONCURRENCY over the limit", env: map[string]string{"NANOCLAW_MAX_API_CONCURRENCY": "257"}, bad: "NANOCLAW_MAX_API_CONCURRENCY"},
		{name: "NANOCLAW_MAX_API_CONCURRENCY words", env: map[string]string{"NANOCLAW_MAX_API_CONCURRENCY": "four"}, bad: "NANOCLAW_MAX_API_CONCURRENCY"},
		{name: "NANOCLAW_PLUGIN_IDLE default", env: map[string]string{}, check: func(s Settings) bool { return s.PluginIdle == DefaultPluginIdle }},
		{name: "NANOCLAW_PLUGIN_IDLE 30s", env: map[string]string{"NANOCLAW_PLUGIN_IDLE": "30s"}, check: func(s Settings) bool { return s.PluginIdle == 30*time.Second }},
		{name: "NANOCLAW_PLUGIN_IDLE ms", env: map[string]string{"NANOCLAW_PLUGIN_IDLE": "60000"}, check: func(s Settings) bool { return s.PluginIdle == time.Minute }},
		{name: "NANOCLAW_PLUGIN_IDLE off", env: map[string]string{"NANOCLAW_PLUGIN_IDLE": "0"}, check: func(s Settings) bool { return s.PluginIdle == 0 }},
		{name: "NANOCLAW_PLUGIN_IDLE negative", env: map[string]string{"NANOCLAW_PLUGIN_IDLE": "-5m"}, bad: "NANOCLAW_PLUGIN_IDLE"},
		{name: "NANOCLAW_PLUGIN_IDLE junk", env: map[string]string{"NANOCLAW_PLUGIN_IDLE": "soon"}, bad: "NANOCLAW_PLUGIN_IDLE"},
		{name: "NANOCLAW_SHUTDOWN_GRACE 5s", env: map[string]string{"NANOCLAW_SHUTDOWN_GRACE": "5s"}, check: func(s Settings) bool { return s.ShutdownGrace == 5*time.Second }},
		{name: "NANOCLAW_SHUTDOWN_GRACE none", env: map[string]string{"NANOCLAW_SHUTDOWN_GRACE": "0"}, check: func(s Settings) bool { return s.ShutdownGrace == 0 }},
		{name: "NANOCLAW_SHUTDOWN_GRACE junk", env: map[string]string{"NANOCLAW_SHUTDOWN_GRACE": "later"}, bad: "NANOCLAW_SHUTDOWN_GRACE"},
		{name: "NANOCLAW_MEDIA_MAX_FILE bytes", env: map[string]string{"NANOCLAW_MEDIA_MAX_FILE": "1000"}, check: func(s Settings) bool { return s.MediaMaxFile == 1000 }},
		{name: "NANOCLAW_MEDIA_MAX_FILE MB", env: map[string]string{"NANOCLAW_MEDIA_MAX_FILE": "10MB"}, check: func(s Settings) bool { return s.MediaMaxFile == 10<<20 }},
		{name: "NANOCLAW_MEDIA_MAX_FILE 1.5 GiB", env: map[string]string{"NANOCLAW_MEDIA_MAX_FILE": "1.5 GiB"}, check: func(s Settings) bool { return s.MediaMaxFile == 3<<29 }},
		{name: "NANOCLAW_MEDIA_MAX_GROUP k", env: map[string]string{"NANOCLAW_MEDIA_MAX_GROUP": "500k"}, check: func(s Settings) bool { return s.MediaMaxGroup == 500<<10 }},
		{name: "NANOCLAW_MEDIA_MAX_GROUP zero", env: map[string]string{"NANOCLAW_MEDIA_MAX_GROUP": "0"}, bad: "NANOCLAW_MEDIA_MAX_GROUP"},
		{name: "NANOCLAW_MEDIA_MAX_GROUP unit", env: map[string]string{"NANOCLAW_MEDIA_MAX_GROUP": "5 parsecs"}, bad: "NANOCLAW_MEDIA_MAX_GROUP"},
		{name: "NANOCLAW_MEDIA_MAX_FILE negative", env: map[string]string{"NANOCLAW_MEDIA_MAX_FILE": "-1MB"}, bad: "NANOCLAW_MEDIA_MAX_FILE"},
		{name: "NANOCLAW_MEDIA_MAX_FILE overflow", env: map[string]string{"NANOCLAW_MEDIA_MAX_FILE": "1e30TB"}, bad: "NANOCLAW_MEDIA_MAX_FILE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := loadSettings(envOf(tc.env), func() string { return tc.sysZone })
			if tc.bad != "" {
				var se *SettingError
				if !errors.As(err, &se) || se.Name != tc.bad {
					t.Fatalf("error = %v, want a *SettingError for %s", err, tc.bad)
				}
				v := strings.TrimSpace(tc.env[tc.bad])
				if msg := err.Error(); !strings.Contains(msg, tc.bad+"="+strconv.Quote(v)) || !strings.Contains(msg, "expected ") {
					t.Errorf("error %q should name %s, its value and what is expected", msg, tc.bad)
				}
				if s != (Settings{}) {
					t.Errorf("settings returned with an error: %+v", s)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(s) {
				t.Errorf("settings = %+v", s)
			}
		})
	}
}

func TestLoadSettingsEnvBeatsDotEnv(t *testing.T) {
	env := map[string]string{"ASSISTANT_NAME": "Env", "MAX_MESSAGES_PER_PROMPT": "3", "TZ": ""}
	dot := map[string]string{"ASSISTANT_NAME": "Dot", "MAX_MESSAGES_PER_PROMPT": "4", "TZ": "Asia/Tokyo", "LOG_LEVEL": "warn",
		"CONTAINER_IMAGE": "dot/image"}
	s, err := loadSettings(MergedEnv(envOf(env), dot), func() string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if s.AssistantName != "Env" || s.MaxMessagesPerPrompt != 3 {
		t.Errorf("environment should win: %+v", s)
	}
	if s.TZ != "Asia/Tokyo" || s.LogLevel != "warn" || s.ContainerImage != "dot/image" {
		t.Errorf(".env should fill what the environment leaves empty: %+v", s)
	}
	// A bad .env value is reported even though the environment is fine elsewhere, and a
	// good environment value hides a bad .env one.
	_, err = loadSettings(MergedEnv(envOf(map[string]string{"LOG_LEVEL": "info"}), map[string]string{"LOG_LEVEL": "loud", "TZ": "Nowhere"}), func() string { return "" })
	var se *SettingError
	if !errors.As(err, &se) || se.Name != "TZ" || strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Errorf("error = %v, want only TZ", err)
	}
}

func TestLoadSettingsJoinsErrors(t *testing.T) {
	env := map[string]string{
		"TZ":                        "IST-2",
		"MAX_CONCURRENT_CONTAINERS": "0",
		"IDLE_TIMEOUT":              "never",
		"LOG_LEVEL":                 "loud",
		"ASSISTANT_HAS_OWN_NUMBER":  "maybe",
		"ASSISTANT_NAME":            "ok", // valid values are not reported
	}
	_, err := loadSettings(envOf(env), func() string { return "" })
	if err == nil {
		t.Fatal("no error")
	}
	multi, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not a joined error", err)
	}
	names := map[string]bool{}
	for _, e := range multi.Unwrap() {
		var se *SettingError
		if !errors.As(e, &se) {
			t.Fatalf("%v is not a *SettingError", e)
		}
		names[se.Name] = true
	}
	want := map[string]bool{"TZ": true, "MAX_CONCURRENT_CONTAINERS": true, "IDLE_TIMEOUT": true, "LOG_LEVEL": true, "ASSISTANT_HAS_OWN_NUMBER": true}
	if !maps.Equal(names, want) {
		t.Errorf("errors for %v, want %v\n%v", names, want, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
		t.Errorf("message has %d lines, want one per variable:\n%v", n, err)
	}
}

func TestSettingErrorUnwrap(t *testing.T) {
	_, err := loadSettings(envOf(map[string]string{"MAX_MESSAGES_PER_PROMPT": "99999999999999999999"}), func() string { return "" })
	if !errors.Is(err, strconv.ErrRange) {
		t.Errorf("error = %v, want it to wrap strconv.ErrRange", err)
	}
	_, err = loadSettings(envOf(map[string]string{"MAX_MESSAGES_PER_PROMPT": "ten"}), func() string { return "" })
	if !errors.Is(err, strconv.ErrSyntax) {
		t.Errorf("error = %v, want it to wrap strconv.ErrSyntax", err)
	}
}

func TestZoneFromPath(t *testing.T) {
	dir := t.TempDir()
	zi := filepath.Join(dir, "usr", "share", "zoneinfo", "Europe")
	if err := os.MkdirAll(zi, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(zi, "London")
	if err := os.WriteFile(target, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "localtime")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{link, "Europe/London"},
		{target, "Europe/London"},
		{"/nonexistent/zoneinfo/posix/Asia/Tokyo", "Asia/Tokyo"},
		{"/nonexistent/zoneinfo/right/UTC", "UTC"},
		{"/nonexistent/etc/passwd", ""},
	} {
		if got := zoneFromPath(tc.path); got != tc.want {
			t.Errorf("zoneFromPath(%s) = %q, want %q", tc.path, got, tc.want)
		}
	}
	// TZ=":/etc/localtime", as some service managers set it, names the linked zone.
	s, err := loadSettings(envOf(map[string]string{"TZ": ":" + link}), func() string { return "" })
	if err != nil || s.TZ != "Europe/London" || s.Location.String() != "Europe/London" {
		t.Errorf("TZ=:%s gave %q, %v; want Europe/London", link, s.TZ, err)
	}
}

func FuzzParseDotEnv(f *testing.F) {
	f.Add([]byte("A=1\n# c\nexport B='x=y'\r\nC=\"\"\n=\n\uFEFFD = \" q \""))
	f.Add([]byte("export\n'\n\"=\"\nexport ="))
	f.Fuzz(func(t *testing.T, data []byte) {
		got := ParseDotEnv(data)
		for k, v := range got {
			if k == "" || v == "" {
				t.Fatalf("empty key or value: %q=%q", k, v)
			}
			if strings.ContainsAny(k, "=\n") || strings.Contains(v, "\n") {
				t.Fatalf("entry spans a line or an =: %q=%q", k, v)
			}
			if trimJS(k) != k {
				t.Fatalf("key %q not trimmed", k)
			}
		}
		// Parsing is line by line: a rendered map parses back to itself.
		var b strings.Builder
		for k, v := range got {
			if rest, ok := strings.CutPrefix(k, "export"); strings.HasPrefix(k, "#") || ok && rest != "" && isBlank(rest[0]) {
				continue // only after "export " can a key look like a comment or another export
			}
			b.WriteString(k + "='" + v + "'\n")
		}
		for k, v := range ParseDotEnv([]byte(b.String())) {
			if got[k] != v {
				t.Fatalf("round trip changed %q: %q to %q", k, got[k], v)
			}
		}
	})
}

// TestProtected checks that every piece of the host's own state is in the protected list,
// wherever configuration puts it.
func TestProtected(t *testing.T) {
	root, elsewhere := t.TempDir(), t.TempDir()
	for _, d := range []string{"groups/main", "groups/family", "groups/global"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "groups", "README.md"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(root, "groups", "linked")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"defaults", map[string]string{"NANOCLAW_CONFIG_DIR": "/cfg"}, []string{
			root, root + "/data", root + "/store", root + "/plugins", root + "/data/plugin-cache", "/cfg",
			root + "/groups", root + "/groups/main", root + "/groups/family", root + "/groups/global", root + "/groups/linked"}},
		{"moved by configuration", map[string]string{"NANOCLAW_CONFIG_DIR": elsewhere + "/cfg", "NANOCLAW_PLUGINS_DIR": elsewhere + "/plugins",
			"NANOCLAW_PLUGIN_CACHE": elsewhere + "/cache"}, []string{
			root, root + "/data", root + "/store", elsewhere + "/plugins", elsewhere + "/cache", elsewhere + "/cfg",
			root + "/groups", root + "/groups/main", root + "/groups/family", root + "/groups/global", root + "/groups/linked"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := PathsFromEnv(root, envOf(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			got := p.Protected()
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("%s is not protected: %q", w, got)
				}
			}
			if slices.Contains(got, filepath.Join(root, "groups", "README.md")) {
				t.Errorf("a file in groups/ is listed as a group folder: %q", got)
			}
		})
	}
}
