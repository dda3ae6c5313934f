// Package credproxy serves the model API (the Anthropic Messages API) to agent containers,
// which have no network. It is mounted on each group's agent socket (host/agentsock), so the
// group of every request is which socket it arrived on — never anything the container says.
//
// It forwards what an agent needs and nothing else: POST /v1/messages and
// /v1/messages/count_tokens, with a fixed set of request headers and a body that is one JSON
// object (rules.go). It adds the real credentials (the container only ever holds a
// placeholder), streams the answer back, and keeps each group's day: tokens reserved before
// a request is forwarded and settled with the usage its response reports, so a daily budget
// holds under concurrency; a cap on each group's requests in flight; and the day's counts in
// the store, so a restart resets neither (ledger.go, persist.go). Everything it refuses is
// answered in the API's error shape, so the agent's SDK shows why.
//
// The real key or token never reaches a container, a log line or an error message.
package credproxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// DefaultUpstream is the API the proxy forwards to when ANTHROPIC_BASE_URL is not set.
const DefaultUpstream = "https://api.anthropic.com"

// Defaults of Config's limits.
const (
	DefaultMaxRequestBytes = 32 << 20 // a larger body is answered 413
	DefaultMaxConcurrency  = 4        // requests in flight per group
	DefaultMaxQueued       = 32       // requests waiting per group; more are answered 429
)

// Config is what New needs. Its String method redacts the credentials, so a Config can be
// logged by accident without leaking them.
type Config struct {
	// Upstream is where requests go; the request path is joined onto Upstream's path, so a
	// compatible endpoint under a prefix works. Default DefaultUpstream.
	Upstream *url.URL
	// APIKey is sent as x-api-key. When it is set, AuthToken is not used.
	APIKey string
	// AuthToken (an OAuth access token, or a gateway's bearer token) is sent as
	// Authorization: Bearer, with the OAuthBeta flag added to anthropic-beta, when APIKey
	// is not set. At least one of the two is required.
	AuthToken string
	// MaxTokensPerDay is every group's budget: tokens of every kind the API reports
	// (input, output, cache write, cache read) per day in Location. 0 means unlimited.
	MaxTokensPerDay int64
	// GroupBudgets overrides MaxTokensPerDay for the groups it names (0 = unlimited).
	GroupBudgets map[string]int64
	// MaxRequestBytes caps a request body. Default DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// MaxConcurrency caps each group's requests in flight upstream; MaxQueued caps how many
	// more wait, in order, for as long as their container does. Defaults DefaultMaxConcurrency
	// and DefaultMaxQueued.
	MaxConcurrency, MaxQueued int
	// Store keeps the days' usage; New loads today's from it, so a restart continues the
	// budget. nil keeps usage in memory only.
	Store UsageStore
	// Location is the zone whose days the budget and the usage count. Default UTC.
	Location *time.Location
	// Logger gets one line per request. Default: discard.
	Logger hclog.Logger
	// Transport sends requests upstream. Default: a clone of http.DefaultTransport.
	Transport http.RoundTripper
	// Clock tells the budget what time it is. Default time.Now.
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
	return fmt.Sprintf("credproxy.Config{Upstream: %s, APIKey: %s, AuthToken: %s, MaxTokensPerDay: %d, GroupBudgets: %d groups, MaxRequestBytes: %d, MaxConcurrency: %d}",
		up, red(c.APIKey), red(c.AuthToken), c.MaxTokensPerDay, len(c.GroupBudgets), c.MaxRequestBytes, c.MaxConcurrency)
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

// credential is which credential the proxy sends upstream.
type credential int

const (
	credAPIKey credential = iota + 1 // x-api-key
	credToken                        // Authorization: Bearer, with OAuthBeta
)

// Proxy serves the API to every group; Handler gives one group's view.
type Proxy struct {
	upstream  *url.URL
	cred      credential
	apiKey    string
	authToken string
	defBudget int64
	budgets   map[string]int64
	maxBody   int64
	maxConc   int
	maxQueued int
	loc       *time.Location
	log       hclog.Logger
	clock     func() time.Time
	transport http.RoundTripper
	writer    *usageWriter // nil without a store

	mu      sync.Mutex
	ledgers map[string]*ledger

	// onDone and onQueued, if set (tests), are called after each request has been settled
	// and logged, and when one starts waiting for its turn.
	onDone, onQueued func(group string)
}

// New checks cfg, loads today's usage from cfg.Store and builds a proxy serving no sockets
// yet.
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
	if cfg.MaxConcurrency < 0 || cfg.MaxQueued < 0 {
		return nil, errors.New("credproxy: MaxConcurrency or MaxQueued is negative")
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
		maxConc:   cfg.MaxConcurrency,
		maxQueued: cfg.MaxQueued,
		loc:       cfg.Location,
		log:       cfg.Logger,
		clock:     cfg.Clock,
		transport: cfg.Transport,
		ledgers:   make(map[string]*ledger),
	}
	// The API key wins when both are set, as in NanoClaw: the key is the credential made
	// for programs, and an operator who adds one means it to be used.
	p.cred = credToken
	if p.apiKey != "" {
		p.cred = credAPIKey
	}
	if p.maxBody <= 0 {
		p.maxBody = DefaultMaxRequestBytes
	}
	if p.maxConc == 0 {
		p.maxConc = DefaultMaxConcurrency
	}
	if p.maxQueued == 0 {
		p.maxQueued = DefaultMaxQueued
	}
	if p.loc == nil {
		p.loc = time.UTC
	}
	if p.log == nil {
		p.log = hclog.NewNullLogger()
	}
	if p.clock == nil {
		p.clock = time.Now
	}
	if p.transport == nil {
		p.transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	if cfg.Store != nil {
		if err := p.load(cfg.Store); err != nil {
			return nil, err
		}
		p.writer = newUsageWriter(cfg.Store, p.log)
	}
	switch {
	case p.cred == credAPIKey && p.authToken != "":
		p.log.Info("model API credentials: the API key (an auth token is also set, and not used)")
	case p.cred == credAPIKey:
		p.log.Info("model API credentials: the API key")
	default:
		p.log.Info("model API credentials: the auth token, as a bearer token with the OAuth beta flag")
	}
	return p, nil
}

// load restores today's usage, so a restart continues each group's day.
func (p *Proxy) load(st UsageStore) error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	rows, err := st.APIUsageOn(ctx, p.today())
	if err != nil {
		return fmt.Errorf("credproxy: load today's usage: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rows {
		l := p.ledgerLocked(r.Group)
		if l.day != r.Day { // midnight passed since the query
			continue
		}
		l.tokens = Tokens{Input: r.InputTokens, Output: r.OutputTokens, CacheRead: r.CacheReadTokens, CacheWrite: r.CacheWriteTokens}
		l.requests, l.refusals = r.Requests, r.Refusals
	}
	return nil
}

// Handler serves the API to group: the agent socket mounts it for the group the socket
// belongs to, and nothing in a request can change which group that is.
func (p *Proxy) Handler(group string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, group) })
}

// Close writes the usage not yet stored and releases the idle upstream connections. Call
// it after the sockets have stopped serving.
func (p *Proxy) Close() error {
	if t, ok := p.transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return p.writer.close()
}
