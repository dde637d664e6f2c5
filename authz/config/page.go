package config

// Page is the `page` section: a server-rendered enrollment page on the
// HTTP listener, where a user the proxy authenticated sees their factors,
// enrolls TOTP and passkeys, fetches recovery codes and removes factors.
// It acts only through the self-service endpoints (api), in process, so it
// needs them on, and it is off unless asked for.
type Page struct {
	// Enabled serves the page on server.http_address.
	Enabled bool `yaml:"enabled"`
	// Path is the page's exact path; its forms post below it.
	Path string `yaml:"path"`
}

// DefaultPagePath is where the page is served when page.path is unset.
const DefaultPagePath = "/mfa"

func defaultPage() Page { return Page{Path: DefaultPagePath} }

// validatePage checks the page section: a plain path that shadows neither
// a health endpoint nor the forward-auth and Envoy HTTP paths nor a
// self-service endpoint, and, when the page is on, the HTTP listener and
// the self-service endpoints it serves from.
func (c *Config) validatePage(add func(key, format string, args ...any)) {
	p := c.Page.Path
	if err := checkHTTPPath(p); err != nil {
		add("page.path", "%v, got %q", err, p)
		return
	}
	if p == "/" {
		add("page.path", "must name a path below /, got %q", p)
		return
	}
	others := append([]pathKey{
		{"the health endpoint", healthzPath}, {"the readiness endpoint", readyzPath}, {"the metrics endpoint", MetricsPath},
		{"server.forward_auth_path", c.Server.ForwardAuthPath}, {"server.envoy_http_prefix", c.Server.EnvoyHTTPPrefix},
	}, c.API.paths()...)
	for _, o := range others {
		if o.v != "" && (o.v == p || below(o.v, p) || below(p, o.v)) {
			add("page.path", "%q overlaps %s %q", p, o.key, o.v)
		}
	}
	if !c.Page.Enabled {
		return
	}
	if c.Server.HTTPAddress == "" {
		add("page.enabled", "needs server.http_address: the page is served on the HTTP listener")
	}
	if !c.API.Enabled {
		add("page.enabled", "needs api.enabled: the page acts through the self-service endpoints")
	}
}
