package idp

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Text Portcullis cannot use. PostgreSQL refuses text that is not valid
// UTF-8 or that holds a NUL byte, so such a parameter, looked up or stored,
// would end as a database error; no legitimate client sends one. The
// middleware refuses these requests up front with 400 (checkRequestText),
// and free text the provider keeps from headers goes through truncate.

// usableText reports whether s is valid UTF-8 without NUL bytes.
func usableText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// unusableValue returns the name of the first key or value of vs that is
// not usable text, and whether there is one.
func unusableValue(vs url.Values) (string, bool) {
	for k, list := range vs {
		if !usableText(k) {
			return "(a parameter name)", true
		}
		for _, v := range list {
			if !usableText(v) {
				return k, true
			}
		}
	}
	return "", false
}

// checkRequestText checks what a handler may read as text: the path, the
// query, the Authorization header and a URL-encoded form body (which it
// parses, as every handler that reads one would). A multipart form body is
// refused outright. The admin API's JSON
// bodies hold only booleans, so its body is left to decodeJSON. It returns
// a description of the first problem, or "".
func checkRequestText(r *http.Request) string {
	if !usableText(r.URL.Path) {
		return "The request path is not valid UTF-8 text."
	}
	if r.URL.RawQuery != "" {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return "The query string is malformed."
		}
		if k, bad := unusableValue(q); bad {
			return "The parameter '" + truncate(k, 50) + "' is not valid UTF-8 text."
		}
	}
	if !usableText(r.Header.Get("Authorization")) {
		return "The Authorization header is not valid UTF-8 text."
	}
	if user, pass, ok := r.BasicAuth(); ok && !(usableText(user) && usableText(pass)) {
		return "The client credentials are not valid UTF-8 text."
	}
	if r.Body == nil || r.Body == http.NoBody || strings.HasPrefix(r.URL.Path, "/admin/api/") {
		return ""
	}
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "application/x-www-form-urlencoded":
	case "multipart/form-data":
		// fosite would parse it (ParseMultipartForm), past this check; no
		// endpoint of ours takes one, and OAuth 2.0 specifies URL-encoded.
		return "Send the form as application/x-www-form-urlencoded."
	default:
		return ""
	}
	if err := r.ParseForm(); err != nil {
		return "The request body is not a valid form, or is larger than 1 MiB."
	}
	if k, bad := unusableValue(r.PostForm); bad {
		return "The parameter '" + truncate(k, 50) + "' is not valid UTF-8 text."
	}
	return ""
}

// refuseUnusableText answers a request checkRequestText refused: an OAuth
// error body on the protocol endpoints, the error page elsewhere.
func (s *Server) refuseUnusableText(w http.ResponseWriter, r *http.Request, problem string) {
	if strings.HasPrefix(r.URL.Path, "/oauth2/") && !strings.HasPrefix(r.URL.Path, "/oauth2/auth") ||
		r.URL.Path == "/userinfo" || strings.HasPrefix(r.URL.Path, "/admin/api/") {
		h := w.Header()
		h.Set("Content-Type", "application/json;charset=UTF-8")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": problem})
		return
	}
	s.renderError(w, r, badRequest(problem))
}
