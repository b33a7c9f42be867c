package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// legitAddress is where the legitimate sign-ins of the wrong-password
// scenario claim to come from (TEST-NET-1).
const legitAddress = "192.0.2.200"

// authURL is an authorization request of the configured client.
func (c *config) authURL() string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {c.ClientID}, "redirect_uri": {c.RedirectURI},
		"scope": {"openid"}, "state": {randomHex(8)},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
	}
	return c.Target + "/oauth2/auth?" + q.Encode()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// openPending opens a pending sign-in with client (which must keep
// cookies and not follow redirects) and returns its id.
func openPending(ctx context.Context, c *config, client *http.Client, from string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.authURL(), nil)
	if from != "" {
		req.Header.Set("X-Forwarded-For", from)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("open a sign-in: %w", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Path != "/login" {
		return "", fmt.Errorf("open a sign-in: HTTP %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("auth_request"), nil
}

// wrongPasswords is the wrong-password scenario: every worker posts random
// credentials on one pending sign-in.
func wrongPasswords(ctx context.Context, c *config, base *http.Client) (scenario, error) {
	jar, _ := cookiejar.New(nil)
	client := *base
	client.Jar = jar
	id, err := openPending(ctx, c, &client, "")
	if err != nil {
		return scenario{}, err
	}
	target, _ := url.Parse(c.Target + "/login")
	var cookies []string
	for _, ck := range jar.Cookies(target) {
		cookies = append(cookies, ck.Name+"="+ck.Value)
	}
	var n atomic.Uint64
	return scenario{
		newRequest: func() *http.Request {
			form := url.Values{"auth_request": {id}, "email": {randomHex(6) + "@load.invalid"}, "password": {randomHex(12)}}
			r, _ := http.NewRequest(http.MethodPost, target.String(), strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Cookie", strings.Join(cookies, "; "))
			if c.Spread {
				i := n.Add(1)
				r.Header.Set("X-Forwarded-For", fmt.Sprintf("198.18.%d.%d", (i/250)%250, i%250+1))
			}
			return r
		},
		expected: func(status int) bool {
			return status == http.StatusUnauthorized || status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
		},
	}, nil
}

// legitResult is how the legitimate sign-ins fared during the flood: the
// latency of their password step (POST /login).
type legitResult struct {
	Attempts int      `json:"attempts"`
	OK       int      `json:"passed_password_step"`
	P50      float64  `json:"p50_ms"`
	Max      float64  `json:"max_ms"`
	Errors   []string `json:"errors,omitempty"`
}

// legitSignIns signs -legit-email in once a second for d, each time in a
// new browser from legitAddress, and times the password step.
func legitSignIns(ctx context.Context, c *config, d time.Duration) *legitResult {
	res := &legitResult{}
	var lat []time.Duration
	deadline := time.Now().Add(d)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for ctx.Err() == nil && time.Now().Before(deadline) {
		res.Attempts++
		el, err := legitSignIn(ctx, c)
		if err != nil {
			if len(res.Errors) < 5 {
				res.Errors = append(res.Errors, err.Error())
			}
		} else {
			res.OK++
			lat = append(lat, el)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	slices.Sort(lat)
	res.P50, res.Max = ms(percentile(lat, 50)), ms(percentile(lat, 100))
	return res
}

func legitSignIn(ctx context.Context, c *config) (time.Duration, error) {
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: c.Timeout, Transport: &http.Transport{Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	id, err := openPending(ctx, c, client, legitAddress)
	if err != nil {
		return 0, err
	}
	form := url.Values{"auth_request": {id}, "email": {c.LegitEmail}, "password": {c.LegitPass}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.Target+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", legitAddress)
	start := time.Now()
	resp, err := client.Do(req)
	el := time.Since(start)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return 0, errors.New("password step answered HTTP " + resp.Status)
	}
	return el, nil
}
