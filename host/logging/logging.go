// Package logging builds the host's root logger: human-readable on a terminal, JSON when
// LOG_FORMAT=json, level from LOG_LEVEL. Components take a named sub-logger from it
// (logger.Named("plugin")), so every line says where it came from.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/mattn/go-isatty"
)

// Options are read from the environment by FromEnv; tests set them directly.
type Options struct {
	Level  string // trace, debug, info, warn, error (default info)
	Format string // "json" or "" (text)
	Output io.Writer
}

// FromEnv reads LOG_LEVEL and LOG_FORMAT.
func FromEnv(getenv func(string) string) Options {
	return Options{Level: getenv("LOG_LEVEL"), Format: getenv("LOG_FORMAT")}
}

// New builds the root logger named "nanoclaw". An unknown level or format is an error that
// names the variable, so a typo does not silently change what gets logged.
func New(o Options) (hclog.Logger, error) {
	level := hclog.Info
	if o.Level != "" {
		level = hclog.LevelFromString(o.Level)
		if level == hclog.NoLevel {
			return nil, fmt.Errorf("LOG_LEVEL=%q: want trace, debug, info, warn or error", o.Level)
		}
	}
	out := o.Output
	if out == nil {
		out = os.Stderr
	}
	var jsonFormat bool
	switch strings.ToLower(o.Format) {
	case "", "text":
	case "json":
		jsonFormat = true
	default:
		return nil, fmt.Errorf("LOG_FORMAT=%q: want json or text", o.Format)
	}
	color := hclog.ColorOff
	if f, ok := out.(*os.File); ok && !jsonFormat && isatty.IsTerminal(f.Fd()) {
		color = hclog.AutoColor
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "nanoclaw",
		Level:      level,
		Output:     out,
		JSONFormat: jsonFormat,
		Color:      color,
		TimeFormat: "2006-01-02T15:04:05.000Z07:00",
	}), nil
}
