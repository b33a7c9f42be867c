package idp

import (
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/portcullis-idp/portcullis/idp/web"
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
// Authorization header, and the query and URL-encoded form body, which it
// parses with r.ParseForm as the handlers do (they then reuse r.Form). A
// multipart form body is refused outright. The admin API reads JSON bodies
// holding only booleans (decodeJSON), so there only the query is parsed,
// and its body is left alone. It returns a description of the first
// problem, or "".
func checkRequestText(r *http.Request) string {
	if !usableText(r.URL.Path) {
		return "The request path is not valid UTF-8 text."
	}
	if !usableText(r.Header.Get("Authorization")) {
		return "The Authorization header is not valid UTF-8 text."
	}
	if user, pass, ok := r.BasicAuth(); ok && !(usableText(user) && usableText(pass)) {
		return "The client credentials are not valid UTF-8 text."
	}
	var params url.Values
	if strings.HasPrefix(r.URL.Path, "/admin/api/") {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return "The query string is malformed."
		}
		params = q
	} else {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
			// fosite would parse it (ParseMultipartForm), past this check;
			// no endpoint of ours takes one, and OAuth 2.0 specifies
			// URL-encoded forms.
			return "Send the form as application/x-www-form-urlencoded."
		}
		if err := r.ParseForm(); err != nil {
			return "The query string or form body is malformed, or the body is larger than 1 MiB."
		}
		params = r.Form // the query and the body together
	}
	if k, bad := unusableValue(params); bad {
		return "The parameter '" + web.Truncate(k, 50) + "' is not valid UTF-8 text."
	}
	return ""
}

// refuseUnusableText answers a request checkRequestText refused: an OAuth
// error body on the protocol endpoints and the admin API (fosite's
// writer; at userinfo with the Bearer challenge its other errors carry),
// the error page elsewhere.
func (s *Server) refuseUnusableText(w http.ResponseWriter, r *http.Request, problem string) {
	switch p := r.URL.Path; {
	case p == "/userinfo":
		web.BearerError(w, http.StatusBadRequest, "invalid_request", problem)
	case protocolPath(p):
		s.oauth.WriteRequestError(w, r, problem)
	default:
		s.pages.Render(w, r, web.BadRequest(problem))
	}
}
