// Package credproxy serves the model API (the Anthropic Messages API) to agent containers,
// which have no network. It is mounted on each group's agent socket (host/agentsock), so the
// group of every request is which socket it arrived on — never anything the container says.
// The proxy strips whatever credentials the container sends (it only ever holds a
// placeholder), adds the real ones, forwards to the upstream, streams the answer back,
// counts the tokens each group uses and can refuse a group over its daily budget.
//
// The real key or token never reaches a container, a log line or an error message.
package credproxy

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultUpstream is the API the proxy forwards to when ANTHROPIC_BASE_URL is not set.
const DefaultUpstream = "https://api.anthropic.com"

// DefaultMaxRequestBytes caps a request body; a larger one is answered 413.
const DefaultMaxRequestBytes = 32 << 20

// Config is what New needs. Its String method redacts the credentials, so a Config can be
// logged by accident without leaking them.
type Config struct {
	// Upstream is where requests go; the request path is joined onto Upstream's path, so a
	// compatible endpoint under a prefix works. Default DefaultUpstream.
	Upstream *url.URL
	// APIKey is sent as x-api-key on every request.
	APIKey string
	// AuthToken (an OAuth or bearer token) replaces the Authorization header of requests
	// that carried one, as Bearer <AuthToken>; requests without one get x-api-key if APIKey
	// is set, else no credentials. At least one of APIKey and AuthToken is required.
	AuthToken string
	// MaxTokensPerDay is every group's budget: tokens of every kind the API reports
	// (input, output, cache creation, cache read) per UTC day. 0 means unlimited.
	MaxTokensPerDay int64
	// GroupBudgets overrides MaxTokensPerDay for the groups it names (0 = unlimited).
	GroupBudgets map[string]int64
	// MaxRequestBytes caps a request body. Default DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// Logger gets one line per request. Default: discard.
	Logger hclog.Logger
	// Transport sends requests upstream. Default: a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Clock tells the budget which day it is. Default time.Now.
	Clock func() time.Time
}

// String shows the configuration with the credentials redacted.
func (c Config) String() string {
	up := "<default>"
	if c.Upstream != nil {
		up = c.Upstream.Redacted()
	}
	red := func(s string) string {
		if s == "" {
			return "unset"
		}
		return "set"
	}
	return fmt.Sprintf("credproxy.Config{Upstream: %s, APIKey: %s, AuthToken: %s, MaxTokensPerDay: %d, GroupBudgets: %d groups, MaxRequestBytes: %d}",
		up, red(c.APIKey), red(c.AuthToken), c.MaxTokensPerDay, len(c.GroupBudgets), c.MaxRequestBytes)
}

// GoString is String, so %#v redacts too.
func (c Config) GoString() string { return c.String() }

// ConfigFromEnv reads ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN (or ANTHROPIC_AUTH_TOKEN)
// and ANTHROPIC_BASE_URL. The other fields are left for the caller.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{APIKey: getenv("ANTHROPIC_API_KEY"), AuthToken: getenv("CLAUDE_CODE_OAUTH_TOKEN")}
	if c.AuthToken == "" {
		c.AuthToken = getenv("ANTHROPIC_AUTH_TOKEN")
	}
	if base := getenv("ANTHROPIC_BASE_URL"); base != "" {
		u, err := parseUpstream(base)
		if err != nil {
			return Config{}, fmt.Errorf("ANTHROPIC_BASE_URL: %w", err)
		}
		c.Upstream = u
	}
	if c.APIKey == "" && c.AuthToken == "" {
		return Config{}, errors.New("no model credentials: set ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN")
	}
	return c, nil
}

// parseUpstream checks a base URL. Its errors never repeat the URL, which may carry a secret.
func parseUpstream(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errors.New("want an http or https URL")
	}
	if u.Host == "" {
		return nil, errors.New("URL has no host")
	}
	return u, nil
}

// Usage is a snapshot of one group's use of the API since the proxy started.
type Usage struct {
	Requests    int64  // requests forwarded upstream
	Refusals    int64  // requests refused for the budget
	Tokens      Tokens // totals over every forwarded request
	TokensToday int64  // what counts against the budget: Tokens.Total() in the current UTC day
}

type groupState struct {
	usage Usage
	day   string // the UTC day TokensToday belongs to
}

// Proxy serves the API to every group; Handler gives one group's view.
type Proxy struct {
	upstream  *url.URL
	apiKey    string
	authToken string
	defBudget int64
	budgets   map[string]int64
	maxBody   int64
	log       hclog.Logger
	clock     func() time.Time
	rp        *httputil.ReverseProxy

	transport http.RoundTripper

	mu     sync.Mutex
	groups map[string]*groupState

	// onDone, if set (tests), is called after each request has been counted and logged.
	onDone func(group string)
}

// New checks cfg and builds a proxy serving no sockets yet.
func New(cfg Config) (*Proxy, error) {
	if cfg.APIKey == "" && cfg.AuthToken == "" {
		return nil, errors.New("credproxy: no credentials: need an API key or an auth token")
	}
	up := cfg.Upstream
	if up == nil {
		up, _ = url.Parse(DefaultUpstream)
	} else {
		if _, err := parseUpstream(up.String()); err != nil {
			return nil, fmt.Errorf("credproxy: upstream: %w", err)
		}
		up = &url.URL{Scheme: up.Scheme, User: up.User, Host: up.Host, Path: up.Path, RawPath: up.RawPath, RawQuery: up.RawQuery}
	}
	if cfg.MaxTokensPerDay < 0 {
		return nil, errors.New("credproxy: MaxTokensPerDay is negative")
	}
	budgets := make(map[string]int64, len(cfg.GroupBudgets))
	for g, b := range cfg.GroupBudgets {
		if b < 0 {
			return nil, fmt.Errorf("credproxy: budget of group %q is negative", g)
		}
		budgets[g] = b
	}
	p := &Proxy{
		upstream:  up,
		apiKey:    cfg.APIKey,
		authToken: cfg.AuthToken,
		defBudget: cfg.MaxTokensPerDay,
		budgets:   budgets,
		maxBody:   cfg.MaxRequestBytes,
		log:       cfg.Logger,
		clock:     cfg.Clock,
		groups:    make(map[string]*groupState),
	}
	if p.maxBody <= 0 {
		p.maxBody = DefaultMaxRequestBytes
	}
	if p.log == nil {
		p.log = hclog.NewNullLogger()
	}
	if p.clock == nil {
		p.clock = time.Now
	}
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	p.transport = transport
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      transport,
		FlushInterval:  -1, // SSE: every write reaches the container at once
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.upstreamError,
		ErrorLog:       p.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
	}
	return p, nil
}

// Handler serves the API to group: the agent socket mounts it for the group the socket
// belongs to, and nothing in a request can change which group that is.
func (p *Proxy) Handler(group string) http.Handler { return p.handler(group) }

// Close releases the proxy's idle upstream connections.
func (p *Proxy) Close() error {
	if t, ok := p.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// Usage is a snapshot of group's use so far; TokensToday is 0 once the UTC day has changed.
func (p *Proxy) Usage(group string) Usage {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.groups[group]
	if g == nil {
		return Usage{}
	}
	u := g.usage
	if g.day != p.today() {
		u.TokensToday = 0
	}
	return u
}

func (p *Proxy) today() string { return p.clock().UTC().Format(time.DateOnly) }

func (p *Proxy) budget(group string) int64 {
	if b, ok := p.budgets[group]; ok {
		return b
	}
	return p.defBudget
}

// state returns group's counters, rolled over to today. p.mu must be held.
func (p *Proxy) state(group string) *groupState {
	g := p.groups[group]
	if g == nil {
		g = &groupState{}
		p.groups[group] = g
	}
	if d := p.today(); g.day != d {
		g.day, g.usage.TokensToday = d, 0
	}
	return g
}

// admit counts a request against group's budget: false (and a refusal) if the group has
// used its budget today. Requests already in flight may take a group past its budget; the
// next one is refused.
func (p *Proxy) admit(group string) (ok bool, used, budget int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.state(group)
	budget = p.budget(group)
	if budget > 0 && g.usage.TokensToday >= budget {
		g.usage.Refusals++
		return false, g.usage.TokensToday, budget
	}
	g.usage.Requests++
	return true, g.usage.TokensToday, budget
}

func (p *Proxy) record(group string, t Tokens) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g := p.state(group)
	g.usage.Tokens.Input = satAdd(g.usage.Tokens.Input, t.Input)
	g.usage.Tokens.Output = satAdd(g.usage.Tokens.Output, t.Output)
	g.usage.Tokens.CacheCreation = satAdd(g.usage.Tokens.CacheCreation, t.CacheCreation)
	g.usage.Tokens.CacheRead = satAdd(g.usage.Tokens.CacheRead, t.CacheRead)
	g.usage.TokensToday = satAdd(g.usage.TokensToday, t.Total())
}
