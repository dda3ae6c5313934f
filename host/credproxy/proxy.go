// Package credproxy serves the model API (the Anthropic Messages API) to agent containers,
// which have no network. Each group gets its own Unix socket, bind-mounted into its
// container, so the group of every request is which socket it arrived on — never anything
// the container says. The proxy strips whatever credentials the container sends (it only
// ever holds a placeholder), adds the real ones, forwards to the upstream, streams the
// answer back, counts the tokens each group uses and can refuse a group over its daily
// budget.
//
// The real key or token never reaches a container, a log line or an error message.
package credproxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
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

// Proxy serves the API on one Unix socket per group.
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

	mu      sync.Mutex
	groups  map[string]*groupState
	sockets map[string]*socket // by group
	closed  bool

	// onDone, if set (tests), is called after each request has been counted and logged.
	onDone func(group string)
}

type socket struct {
	path string
	srv  *http.Server
	ln   *net.UnixListener
	done chan struct{} // closed when Serve has returned
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
		sockets:   make(map[string]*socket),
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

// Listen creates group's socket at socketPath and serves it until CloseGroup or Close.
// The socket is mode 0666 (the container runs as another uid, and connect needs write
// permission); its directory is created 0755 if missing and made searchable if it is not,
// so it should be a directory of its own. A stale socket left by a crashed host is
// replaced; a live one, or any other kind of file at socketPath, is an error.
func (p *Proxy) Listen(group, socketPath string) error {
	if group == "" {
		return errors.New("credproxy: empty group")
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return errors.New("credproxy: proxy closed")
	}
	if s, ok := p.sockets[group]; ok {
		p.mu.Unlock()
		return fmt.Errorf("credproxy: group %q already served at %s", group, s.path)
	}
	p.mu.Unlock()

	if err := prepareDir(filepath.Dir(socketPath)); err != nil {
		return fmt.Errorf("credproxy: socket directory: %w", err)
	}
	if fi, err := os.Lstat(socketPath); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return fmt.Errorf("credproxy: %s exists and is not a socket", socketPath)
		}
		if conn, err := net.DialTimeout("unix", socketPath, 200*time.Millisecond); err == nil {
			conn.Close()
			return fmt.Errorf("credproxy: %s is in use by another server", socketPath)
		}
		if err := os.Remove(socketPath); err != nil {
			return fmt.Errorf("credproxy: stale socket: %w", err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: socketPath, Net: "unix"})
	if err != nil {
		return fmt.Errorf("credproxy: %w", err)
	}
	if err := os.Chmod(socketPath, 0o666); err != nil {
		ln.Close()
		return fmt.Errorf("credproxy: %w", err)
	}
	s := &socket{
		path: socketPath,
		ln:   ln,
		done: make(chan struct{}),
		srv: &http.Server{
			Handler:           p.handler(group),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          p.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
		},
	}
	p.mu.Lock()
	if _, ok := p.sockets[group]; ok || p.closed {
		p.mu.Unlock()
		ln.Close()
		return fmt.Errorf("credproxy: group %q: proxy closed or socket raced", group)
	}
	p.sockets[group] = s
	p.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Error("socket stopped", "group", group, "error", err)
		}
	}()
	p.log.Debug("serving", "group", group, "socket", socketPath)
	return nil
}

func prepareDir(dir string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		return os.Chmod(dir, 0o755) // whatever the umask
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o011 != 0o011 {
		return os.Chmod(dir, perm|0o011)
	}
	return nil
}

// CloseGroup stops serving group's socket and removes it. Requests in flight are cut off.
// Its usage is kept.
func (p *Proxy) CloseGroup(group string) error {
	p.mu.Lock()
	s := p.sockets[group]
	delete(p.sockets, group)
	p.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.close()
}

func (s *socket) close() error {
	err := s.srv.Close() // closes the listener, which unlinks the socket
	<-s.done
	if rmErr := os.Remove(s.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) && err == nil {
		err = rmErr
	}
	return err
}

// Close stops every socket. The proxy cannot listen again afterwards.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	socks := p.sockets
	p.sockets = make(map[string]*socket)
	p.mu.Unlock()
	var errs []error
	for _, s := range socks {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
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
