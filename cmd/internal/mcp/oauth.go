package mcp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// OAuthOptions configures the OAuth 2.1 resource-server mode of serve:
// JWT access tokens issued by one authorization server, for this server.
type OAuthOptions struct {
	// Issuer is the authorization server's issuer identifier (https, or
	// http on a loopback address); its metadata names the JWKS.
	Issuer string
	// Audience is this server's resource identifier (RFC 8707), normally
	// its /mcp URL; a token must name it in "aud".
	Audience string
	// Client fetches the metadata and the keys; nil means one with a 10s
	// timeout.
	Client *http.Client
	// Leeway is the clock skew allowed on exp and nbf; zero means 30s.
	Leeway time.Duration
	// RefreshMin is the least time between two fetches of the key set for
	// tokens with a key id it lacks (so a flood of made-up key ids costs
	// one fetch); zero means 30s.
	RefreshMin time.Duration
	// MaxAge is how long a fetched key set is used before it is fetched
	// again (so a key the issuer dropped stops being accepted); zero
	// means one hour.
	MaxAge time.Duration
	// Logger gets the key set fetches and their failures; nil discards.
	Logger *slog.Logger
}

// OAuth verifies JWT access tokens against the issuer's published keys.
type OAuth struct {
	opts    OAuthOptions
	jwksURI string
	parser  *jwt.Parser

	fetchMu sync.Mutex // one key set fetch at a time
	keys    atomic.Pointer[keySet]
}

// keySet is one fetch of the issuer's JWKS.
type keySet struct {
	byKid   map[string]jwk
	fetched time.Time
}

// jwk is a usable verification key and the algorithm it is for.
type jwk struct {
	alg string
	key crypto.PublicKey
}

// The accepted signature algorithms: asymmetric only. "none" and the HS*
// family (which would take a public key as an HMAC secret) never are.
var oauthAlgs = []string{"RS256", "ES256", "EdDSA"}

const (
	maxMetadataBytes = 1 << 20
	maxJWKSKeys      = 64
	maxTokenBytes    = 16 << 10
	// oauthUserPrefix marks a token name that comes from OAuth: static
	// token names cannot hold ':', so the two never collide.
	oauthUserPrefix = "oauth:"
)

// ErrOAuthSetup reports a configuration or issuer that cannot be used.
var ErrOAuthSetup = errors.New("oauth")

// NewOAuth fetches the issuer's metadata (RFC 8414, or OpenID Connect
// discovery) and its key set, so that a server that cannot verify any
// token does not start.
func NewOAuth(ctx context.Context, o OAuthOptions) (*OAuth, error) {
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Leeway == 0 {
		o.Leeway = 30 * time.Second
	}
	if o.RefreshMin == 0 {
		o.RefreshMin = 30 * time.Second
	}
	if o.MaxAge == 0 {
		o.MaxAge = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := httpsOrLoopback(o.Issuer); err != nil {
		return nil, fmt.Errorf("%w: issuer %q: %w", ErrOAuthSetup, o.Issuer, err)
	}
	if err := httpsOrLoopback(o.Audience); err != nil {
		return nil, fmt.Errorf("%w: audience %q: %w", ErrOAuthSetup, o.Audience, err)
	}
	a := &OAuth{opts: o, parser: jwt.NewParser(
		jwt.WithValidMethods(oauthAlgs),
		jwt.WithIssuer(o.Issuer),
		jwt.WithAudience(o.Audience),
		jwt.WithLeeway(o.Leeway),
		jwt.WithExpirationRequired(),
	)}
	var err error
	if a.jwksURI, err = a.discover(ctx); err != nil {
		return nil, err
	}
	if err := a.refresh(ctx, nil); err != nil {
		return nil, err
	}
	return a, nil
}

// httpsOrLoopback accepts an absolute https URL, or http to a loopback
// host (a local or test authorization server).
func httpsOrLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Host == "" || u.User != nil || u.Fragment != "" {
		return errors.New("want an absolute URL without credentials or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(net.JoinHostPort(u.Hostname(), "0")) {
			return nil
		}
	}
	return errors.New("want https (http only to a loopback address)")
}

// discover reads the issuer's metadata and returns its jwks_uri. The
// metadata must name the same issuer (RFC 8414 §3.3): otherwise a
// document elsewhere could hand us its keys.
func (a *OAuth) discover(ctx context.Context) (string, error) {
	u, _ := url.Parse(a.opts.Issuer)
	path := strings.TrimSuffix(u.Path, "/")
	places := []string{
		"/.well-known/oauth-authorization-server" + path, // RFC 8414
		"/.well-known/openid-configuration" + path,       // path insertion, as RFC 8414 asks of OIDC too
	}
	if path != "" {
		places = append(places, path+"/.well-known/openid-configuration") // OpenID Connect Discovery 1.0
	}
	var tried []string
	for _, p := range places {
		mu := *u
		mu.Path, mu.RawPath = p, ""
		var meta struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		found, err := a.getJSON(ctx, mu.String(), &meta)
		if err != nil {
			return "", fmt.Errorf("%w: reading the issuer's metadata: %w", ErrOAuthSetup, err)
		}
		if !found {
			tried = append(tried, mu.String())
			continue
		}
		if meta.Issuer != a.opts.Issuer {
			return "", fmt.Errorf("%w: metadata at %s names issuer %q, not %q", ErrOAuthSetup, mu.String(), meta.Issuer, a.opts.Issuer)
		}
		if err := httpsOrLoopback(meta.JWKSURI); err != nil {
			return "", fmt.Errorf("%w: metadata at %s: jwks_uri %q: %w", ErrOAuthSetup, mu.String(), meta.JWKSURI, err)
		}
		return meta.JWKSURI, nil
	}
	return "", fmt.Errorf("%w: no authorization server metadata at %s", ErrOAuthSetup, strings.Join(tried, " or "))
}

// getJSON fetches a bounded JSON document; false (no error) on a 404 or
// 410, so that discovery tries the next place.
func (a *OAuth) getJSON(ctx context.Context, u string, v any) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	res, err := a.opts.Client.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	switch {
	case res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusGone:
		return false, nil
	case res.StatusCode != http.StatusOK:
		return false, fmt.Errorf("fetching %s: %s", u, res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, maxMetadataBytes+1))
	if err != nil {
		return false, fmt.Errorf("fetching %s: %w", u, err)
	}
	if len(body) > maxMetadataBytes {
		return false, fmt.Errorf("fetching %s: larger than %d bytes", u, maxMetadataBytes)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return false, fmt.Errorf("decoding %s: %w", u, err)
	}
	return true, nil
}

// refresh fetches the key set. With prev set (the set the caller saw),
// it does nothing if another caller has replaced that set meanwhile, or
// if prev is younger than RefreshMin and not yet MaxAge old.
func (a *OAuth) refresh(ctx context.Context, prev *keySet) error {
	// A client that hangs up does not cancel the fetch: a cancelled fetch
	// would hold back the next one for RefreshMin.
	ctx = context.WithoutCancel(ctx)
	a.fetchMu.Lock()
	defer a.fetchMu.Unlock()
	cur := a.keys.Load()
	if prev != nil && (cur != prev || time.Since(cur.fetched) < a.opts.RefreshMin) {
		return nil
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	found, err := a.getJSON(ctx, a.jwksURI, &doc)
	if err == nil && !found {
		err = fmt.Errorf("fetching %s: not found", a.jwksURI)
	}
	if err != nil {
		if cur != nil {
			// Keep the keys we have: a kid they lack is tried again after
			// RefreshMin, the whole set after MaxAge.
			a.keys.Store(&keySet{byKid: cur.byKid, fetched: time.Now()})
		}
		a.opts.Logger.Warn("fetching the issuer's keys failed", "jwks_uri", a.jwksURI, "err", err)
		return fmt.Errorf("%w: key set: %w", ErrOAuthSetup, err)
	}
	if len(doc.Keys) > maxJWKSKeys {
		doc.Keys = doc.Keys[:maxJWKSKeys]
	}
	set := &keySet{byKid: map[string]jwk{}, fetched: time.Now()}
	for _, raw := range doc.Keys {
		kid, k, err := parseJWK(raw)
		if err != nil {
			a.opts.Logger.Warn("skipping a key of the issuer", "jwks_uri", a.jwksURI, "kid", kid, "err", err)
			continue
		}
		set.byKid[kid] = k
	}
	if len(set.byKid) == 0 {
		err := fmt.Errorf("%w: key set at %s has no usable signing key (RS256, ES256 or EdDSA with a kid)", ErrOAuthSetup, a.jwksURI)
		if cur != nil {
			a.keys.Store(&keySet{byKid: cur.byKid, fetched: time.Now()})
		}
		a.opts.Logger.Warn("fetching the issuer's keys failed", "err", err)
		return err
	}
	a.keys.Store(set)
	a.opts.Logger.Info("fetched the issuer's keys", "jwks_uri", a.jwksURI, "keys", len(set.byKid))
	return nil
}

// parseJWK reads one key of a JWKS (RFC 7517/7518/8037). Only signature
// keys of the accepted algorithms are kept, each bound to its algorithm.
func parseJWK(raw json.RawMessage) (string, jwk, error) {
	var k struct {
		Kty, Kid, Use, Alg, Crv string
		N, E, X, Y              string
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", jwk{}, err
	}
	if k.Kid == "" {
		return "", jwk{}, errors.New("no kid")
	}
	if k.Use != "" && k.Use != "sig" {
		return k.Kid, jwk{}, fmt.Errorf("use %q", k.Use)
	}
	b64 := base64.RawURLEncoding.DecodeString
	var out jwk
	switch k.Kty {
	case "RSA":
		n, err1 := b64(k.N)
		e, err2 := b64(k.E)
		if err := errors.Join(err1, err2); err != nil {
			return k.Kid, jwk{}, err
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n)}
		if len(e) == 0 || len(e) > 4 {
			return k.Kid, jwk{}, errors.New("bad RSA exponent")
		}
		ee := new(big.Int).SetBytes(e)
		pub.E = int(ee.Int64())
		if pub.E < 3 || pub.E%2 == 0 {
			return k.Kid, jwk{}, errors.New("bad RSA exponent")
		}
		if pub.N.BitLen() < 2048 {
			return k.Kid, jwk{}, fmt.Errorf("RSA key of %d bits (want 2048 or more)", pub.N.BitLen())
		}
		out = jwk{alg: "RS256", key: pub}
	case "EC":
		if k.Crv != "P-256" {
			return k.Kid, jwk{}, fmt.Errorf("curve %q", k.Crv)
		}
		x, err1 := b64(k.X)
		y, err2 := b64(k.Y)
		if err := errors.Join(err1, err2); err != nil || len(x) != 32 || len(y) != 32 {
			return k.Kid, jwk{}, errors.New("bad P-256 point")
		}
		// It checks that the point is on the curve.
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return k.Kid, jwk{}, fmt.Errorf("bad P-256 point: %w", err)
		}
		out = jwk{alg: "ES256", key: pub}
	case "OKP":
		x, err := b64(k.X)
		if k.Crv != "Ed25519" || err != nil || len(x) != ed25519.PublicKeySize {
			return k.Kid, jwk{}, errors.New("want an Ed25519 key")
		}
		out = jwk{alg: "EdDSA", key: ed25519.PublicKey(x)}
	default:
		return k.Kid, jwk{}, fmt.Errorf("key type %q", k.Kty)
	}
	if k.Alg != "" && k.Alg != out.alg {
		return k.Kid, jwk{}, fmt.Errorf("alg %q for a %s key", k.Alg, k.Kty)
	}
	return k.Kid, out, nil
}

// claims are the parts of an access token we read.
type claims struct {
	jwt.RegisteredClaims
	Scope string `json:"scope"`
}

// Verify checks a JWT access token: an accepted algorithm, signed by a
// key of the issuer's set (fetched again, at most every RefreshMin, for a
// key id it lacks), our issuer, our audience, not expired or not yet
// valid (with Leeway), and a subject. The token's name is "oauth:" and
// its subject, which binds sessions and counts calls per token.
func (a *OAuth) Verify(ctx context.Context, token string) (*auth.TokenInfo, error) {
	if len(token) > maxTokenBytes {
		return nil, fmt.Errorf("%w: token too long", auth.ErrInvalidToken)
	}
	if set := a.keys.Load(); time.Since(set.fetched) > a.opts.MaxAge {
		_ = a.refresh(ctx, set)
	}
	var c claims
	_, err := a.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("token has no kid")
		}
		set := a.keys.Load()
		k, ok := set.byKid[kid]
		if !ok {
			_ = a.refresh(ctx, set)
			k, ok = a.keys.Load().byKid[kid]
		}
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		if alg := t.Method.Alg(); alg != k.alg {
			return nil, fmt.Errorf("alg %s with a key for %s", alg, k.alg)
		}
		return k.key, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", auth.ErrInvalidToken, err)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: token has no subject", auth.ErrInvalidToken)
	}
	ti := &auth.TokenInfo{UserID: oauthUserPrefix + c.Subject, Scopes: strings.Fields(c.Scope)}
	if c.ExpiresAt != nil {
		ti.Expiration = c.ExpiresAt.Time
	}
	return ti, nil
}

// metadataPath is where the protected resource metadata of a resource
// lives (RFC 9728 §3.1: the well-known name inserted before its path).
func metadataPath(resource string) string {
	u, _ := url.Parse(resource)
	return "/.well-known/oauth-protected-resource" + strings.TrimSuffix(u.Path, "/")
}

// MetadataURL is the URL of this resource's protected resource metadata,
// sent as resource_metadata in a 401's WWW-Authenticate.
func (a *OAuth) MetadataURL() string {
	u, _ := url.Parse(a.opts.Audience)
	u.Path, u.RawPath, u.RawQuery = metadataPath(a.opts.Audience), "", ""
	return u.String()
}

// metadataHandler serves the protected resource metadata (RFC 9728).
func (a *OAuth) metadataHandler() http.Handler {
	return auth.ProtectedResourceMetadataHandler(&oauthex.ProtectedResourceMetadata{
		Resource:                          a.opts.Audience,
		AuthorizationServers:              []string{a.opts.Issuer},
		BearerMethodsSupported:            []string{"header"},
		ResourceSigningAlgValuesSupported: oauthAlgs,
	})
}

// challengeHeader is the WWW-Authenticate of a 401: the realm, with
// OAuth where the metadata is (RFC 9728 §5.1) and, when a token was sent,
// that it was not accepted (RFC 6750 §3.1).
func (g *gate) challengeHeader(r *http.Request) string {
	h := `Bearer realm="agent-ctl"`
	if g.opts.OAuth != nil {
		h += fmt.Sprintf(`, resource_metadata=%q`, g.opts.OAuth.MetadataURL())
	}
	if r.Header.Get("Authorization") != "" {
		h += `, error="invalid_token"`
	}
	return h
}
