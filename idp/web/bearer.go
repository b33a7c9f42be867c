package web

import (
	"encoding/json"
	"net/http"
	"strings"
)

// quotedStringEscaper escapes the two characters a quoted-string header
// parameter cannot hold as they are.
var quotedStringEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

// BearerError answers a request to a bearer-token resource (userinfo, the
// admin API) with RFC 6750's error format.
func BearerError(w http.ResponseWriter, status int, code, desc string) {
	v := `Bearer realm="portcullis"`
	if code != "" {
		// A quoted-string (RFC 9110 §5.6.4): the description may name a
		// parameter the client chose.
		v += `, error="` + code + `", error_description="` + quotedStringEscaper.Replace(desc) + `"`
	}
	w.Header().Set("WWW-Authenticate", v)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]string{"error": code, "error_description": desc}
	if code == "" {
		body["error"] = "invalid_request"
	}
	_ = json.NewEncoder(w).Encode(body)
}

// BearerToken returns the token of an "Authorization: Bearer …" header, or "".
func BearerToken(r *http.Request) string {
	if scheme, value, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "bearer") {
		return strings.TrimSpace(value)
	}
	return ""
}
