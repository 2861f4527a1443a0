package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tickerboard/tickerboard/api"
	"github.com/tickerboard/tickerboard/api/hub"
	"github.com/tickerboard/tickerboard/feeds"
	"github.com/tickerboard/tickerboard/store"
)

// defaultMaxPerIP bounds the streams one client address may hold, so that one
// machine cannot take every slot of an instance.
const defaultMaxPerIP = 64

// config is the server's configuration: flags, which override environment variables,
// which override the defaults.
type config struct {
	addr        string
	databaseURL string
	feeds       string
	retention   time.Duration
	pruneEvery  time.Duration
	maxStreams  int
	maxPerIP    int
	heartbeat   time.Duration
	logLevel    string
	logFormat   string
	capture     string
	access      api.Access
	feedOpts    feeds.Options
}

func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("tickerboard", flag.ContinueOnError)
	fs.SetOutput(stderr)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.addr, "addr", env("TICKERBOARD_ADDR", "127.0.0.1:8080"), "listen address (env TICKERBOARD_ADDR)")
	// Secrets are never flag defaults: flag prints defaults in -h and after a mistyped
	// flag. They are read from the environment after parsing.
	fs.StringVar(&c.databaseURL, "database-url", "", "PostgreSQL URL; the database is created if missing (env DATABASE_URL, default "+store.DefaultURL+")")
	fs.StringVar(&c.feeds, "feeds", env("TICKERBOARD_FEEDS", "prices,scores"), "simulated feeds to run on the leader: prices, scores, or none (env TICKERBOARD_FEEDS)")
	retention, err := time.ParseDuration(env("TICKERBOARD_RETENTION", "1h"))
	if err != nil {
		return nil, fmt.Errorf("TICKERBOARD_RETENTION: %w", err)
	}
	fs.DurationVar(&c.retention, "retention", retention, "how long the change log and price history are kept (env TICKERBOARD_RETENTION)")
	fs.DurationVar(&c.pruneEvery, "prune-every", time.Minute, "how often the leader prunes the change log")
	maxStreams, err := strconv.Atoi(env("TICKERBOARD_MAX_STREAMS", "10000"))
	if err != nil {
		return nil, fmt.Errorf("TICKERBOARD_MAX_STREAMS: %w", err)
	}
	maxPerIP, err := strconv.Atoi(env("TICKERBOARD_MAX_STREAMS_PER_IP", strconv.Itoa(defaultMaxPerIP)))
	if err != nil {
		return nil, fmt.Errorf("TICKERBOARD_MAX_STREAMS_PER_IP: %w", err)
	}
	fs.IntVar(&c.maxStreams, "max-streams", maxStreams, "most concurrent SSE streams this instance serves (env TICKERBOARD_MAX_STREAMS)")
	fs.IntVar(&c.maxPerIP, "max-streams-per-ip", maxPerIP, "most concurrent SSE streams per client address, 0 for no limit (env TICKERBOARD_MAX_STREAMS_PER_IP)")
	fs.DurationVar(&c.heartbeat, "heartbeat", hub.DefaultStreamConfig.Heartbeat, "a quiet stream gets a heartbeat event this often; pages call a stream silent for 2.5 of these dead (shorter than your proxies' idle timeout)")
	fs.StringVar(&c.access.Token, "token", "", "if set, viewers need this token: open /?token=… once (env TICKERBOARD_TOKEN)")
	origins := fs.String("cors-origins", getenv("TICKERBOARD_CORS_ORIGINS"), "comma-separated origins allowed to use the API cross-site, e.g. https://example.com (env TICKERBOARD_CORS_ORIGINS)")
	proxies := fs.String("trusted-proxies", getenv("TICKERBOARD_TRUSTED_PROXIES"), "comma-separated addresses or CIDRs of reverse proxies whose X-Real-IP/X-Forwarded-For give the client address for per-address limits; empty trusts none (env TICKERBOARD_TRUSTED_PROXIES)")
	oldTrust := fs.Bool("trust-proxy", false, "removed: use -trusted-proxies")
	fs.StringVar(&c.logLevel, "log-level", env("TICKERBOARD_LOG_LEVEL", "info"), "debug, info, warn or error (env TICKERBOARD_LOG_LEVEL)")
	fs.StringVar(&c.capture, "capture", env("TICKERBOARD_CAPTURE", "auto"), "how changes become events: wal (decode the WAL; needs wal_level = logical and a REPLICATION role), triggers (any Postgres), or auto: wal when the server allows it (env TICKERBOARD_CAPTURE)")
	fs.StringVar(&c.logFormat, "log-format", env("TICKERBOARD_LOG_FORMAT", "text"), "text, or json for log shippers (env TICKERBOARD_LOG_FORMAT)")
	c.feedOpts.Register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["database-url"] {
		c.databaseURL = env("DATABASE_URL", store.DefaultURL)
	}
	if !set["token"] {
		c.access.Token = getenv("TICKERBOARD_TOKEN")
	}
	if v := getenv("TICKERBOARD_TRUST_PROXY"); *oldTrust || (v != "" && v != "false" && v != "0") {
		return nil, errors.New("TICKERBOARD_TRUST_PROXY (-trust-proxy) is gone: set TICKERBOARD_TRUSTED_PROXIES (-trusted-proxies) to the addresses or CIDRs of the proxies in front, e.g. 172.16.0.0/12; headers from any other peer are not believed")
	}
	if c.access.TrustedProxies, err = api.ParseTrustedProxies(*proxies); err != nil {
		return nil, fmt.Errorf("-trusted-proxies: %w", err)
	}
	if err := c.feedOpts.Validate(); err != nil {
		return nil, err
	}
	if c.access.CORSOrigins, err = parseOrigins(*origins); err != nil {
		return nil, err
	}
	if c.capture != store.CaptureAuto && c.capture != store.CaptureWAL && c.capture != store.CaptureTriggers {
		return nil, fmt.Errorf("-capture %q: want auto, wal or triggers", c.capture)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return nil, fmt.Errorf("-log-format %q: want text or json", c.logFormat)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.heartbeat < 100*time.Millisecond {
		return nil, fmt.Errorf("-heartbeat %s: must be at least 100ms", c.heartbeat)
	}
	if c.retention < time.Minute {
		return nil, fmt.Errorf("-retention %s: must be at least 1m", c.retention)
	}
	for _, f := range strings.Split(c.feeds, ",") {
		switch strings.TrimSpace(f) {
		case "prices":
			c.feedOpts.Prices = true
		case "scores":
			c.feedOpts.Scores = true
		case "none", "":
		default:
			return nil, fmt.Errorf("-feeds: unknown feed %q (want prices, scores or none)", f)
		}
	}
	return c, nil
}

// parseOrigins reads the CORS allowlist: exact origins only, never "*".
func parseOrigins(list string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		u, err := url.Parse(o)
		if o == "*" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("-cors-origins: %q is not an origin like https://example.com (no wildcards)", o)
		}
		out = append(out, o)
	}
	return out, nil
}
