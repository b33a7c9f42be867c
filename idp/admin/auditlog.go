package admin

// The audit log's pages and downloads, shared by the admin page and the
// API: keyset pages by (time, id), newest first, and the whole filtered
// log streamed as CSV or JSON lines.

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/browser"
	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
)

const (
	pathAdminAuditExport    = "/admin/audit/export"
	pathAdminAPIAuditExport = "/admin/api/audit/export"
	// auditTimeFormat is how the page shows an event's time: to the
	// second, in UTC (the column heading says so).
	auditTimeFormat = "2006-01-02 15:04:05"
	exportPage      = 500
)

var errBadCursor = web.BadRequest("The page of the audit log is not one this server gave out. Open the audit log again.")

// auditCursors reads the before and after parameters (at most one).
func auditCursors(before, after string) (*store.AuditCursor, *store.AuditCursor, error) {
	if before != "" && after != "" {
		return nil, nil, web.BadRequest("Ask for older or newer events, not both.")
	}
	var b, a *store.AuditCursor
	var err error
	if before != "" {
		b, err = store.ParseAuditCursor(before)
	} else if after != "" {
		a, err = store.ParseAuditCursor(after)
	}
	if err != nil {
		return nil, nil, errBadCursor
	}
	return b, a, nil
}

// auditPeek asks for one event more than a page holds, to know whether
// there is a further page.
func auditPeek(f store.AuditFilter) store.AuditFilter {
	if f.Limit <= 0 {
		f.Limit = adminAuditLimit
	}
	f.Limit++
	return f
}

// auditPage trims events (asked with auditPeek) to the page and returns
// the cursors of its older and newer neighbours ("" where there is none).
func auditPage(f store.AuditFilter, events []store.AuditEvent) ([]store.AuditEvent, string, string) {
	limit := f.Limit
	if limit <= 0 {
		limit = adminAuditLimit
	}
	more := len(events) > limit
	if more {
		if f.After != nil {
			events = events[1:] // the newest of the peek is on the next newer page
		} else {
			events = events[:limit]
		}
	}
	if len(events) == 0 {
		return events, "", ""
	}
	var older, newer string
	if more && f.After == nil || f.After != nil {
		older = store.CursorOf(&events[len(events)-1]).String()
	}
	if more && f.After != nil || f.Before != nil {
		newer = store.CursorOf(&events[0]).String()
	}
	return events, older, newer
}

// auditPager is auditPage with the page's links, keeping the filters.
func auditPager(q url.Values, f store.AuditFilter, events []store.AuditEvent) ([]store.AuditEvent, string, string) {
	events, older, newer := auditPage(f, events)
	link := func(key, cursor string) string {
		if cursor == "" {
			return ""
		}
		v := url.Values{}
		for _, k := range []string{"user", "event", "q", "upage"} {
			if q.Get(k) != "" {
				v.Set(k, q.Get(k))
			}
		}
		v.Set(key, cursor)
		return pathAdmin + "?" + v.Encode() + "#audit"
	}
	return events, link("after", newer), link("before", older)
}

// usersPager says which users the page shows and links the pages before
// and after, keeping the search and the audit filters.
func usersPager(q url.Values, uq usersQuery, shown, matching int) (string, string, string) {
	link := func(page int) string {
		v := url.Values{}
		for _, k := range []string{"q", "user", "event"} {
			if q.Get(k) != "" {
				v.Set(k, q.Get(k))
			}
		}
		if page > 1 {
			v.Set("upage", strconv.Itoa(page))
		}
		if len(v) == 0 {
			return pathAdmin + "#users"
		}
		return pathAdmin + "?" + v.Encode() + "#users"
	}
	first := (uq.page-1)*adminUsersPage + 1
	text := "Users " + strconv.Itoa(first) + "–" + strconv.Itoa(first+shown-1) + " of " + strconv.Itoa(matching)
	if shown == 0 {
		text = "No users on this page."
	}
	var prev, next string
	if uq.page > 1 {
		prev = link(uq.page - 1)
	}
	if first+shown-1 < matching {
		next = link(uq.page + 1)
	}
	return text, prev, next
}

// exportURLs are the CSV and JSON lines downloads of the log as filtered.
func exportURLs(path string, f store.AuditFilter) (string, string) {
	u := func(format string) string {
		v := url.Values{"format": {format}}
		if f.SubjectID != "" {
			v.Set("user", f.SubjectID)
		}
		if f.Event != "" {
			v.Set("event", string(f.Event))
		}
		return path + "?" + v.Encode()
	}
	return u("csv"), u("jsonl")
}

// auditISO is an event's time in the downloads.
func auditISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// --- export ---

// exportFormat is the format parameter: csv or jsonl.
func exportFormat(v string) (string, bool) {
	switch v {
	case "csv", "jsonl":
		return v, true
	}
	return "", false
}

// csvCell guards a CSV cell against formula injection: a spreadsheet
// opening the file would run a value that starts with = + - @ (or a tab or
// carriage return, which some treat alike) as a formula, so such a value
// is written with a leading single quote. encoding/csv does the quoting.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

var csvHeader = []string{"id", "time", "event", "label", "actor_id", "actor", "subject_id", "subject", "detail", "ip", "user_agent"}

// writeAuditExport streams every event f matches, newest first, in
// format, a page of exportPage events at a time (no transaction is held
// between pages). An error after the first byte can only cut the download
// short: it is logged.
func (a *Admin) writeAuditExport(w http.ResponseWriter, r *http.Request, tenant *store.Tenant, f store.AuditFilter, format string) error {
	ctx := r.Context()
	users, err := a.Store.ListUsers(ctx, tenant.ID)
	if err != nil {
		return err
	}
	emails := make(map[string]string, len(users))
	for _, u := range users {
		emails[u.ID] = u.Email
	}
	f.Limit, f.Before, f.After = exportPage, nil, nil
	first, err := a.Store.ListAudit(ctx, f)
	if err != nil {
		return err
	}
	h := w.Header()
	name := "audit-" + tenant.Slug + "-" + time.Now().UTC().Format("20060102-150405")
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		name += ".csv"
	} else {
		h.Set("Content-Type", "application/jsonl; charset=utf-8")
		name += ".jsonl"
	}
	h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	cw := csv.NewWriter(w)
	enc := json.NewEncoder(w)
	if format == "csv" {
		_ = cw.Write(csvHeader)
	}
	party := func(id string) string {
		switch {
		case id == "":
			return ""
		case id == tenant.ID:
			return "organisation"
		}
		return emails[id]
	}
	flusher, _ := w.(http.Flusher)
	for events := first; ; {
		for _, e := range events {
			if format == "csv" {
				rec := []string{strconv.FormatInt(e.ID, 10), auditISO(e.CreatedAt), string(e.Event), audit.Label(e.Event),
					e.ActorID, party(e.ActorID), e.SubjectID, party(e.SubjectID), e.Detail, e.IP, e.UserAgent}
				for i := range rec {
					rec[i] = csvCell(rec[i])
				}
				if err := cw.Write(rec); err != nil {
					return errExportCut(err)
				}
			} else if err := enc.Encode(toAPIAuditEvent(e)); err != nil {
				return errExportCut(err)
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return errExportCut(err)
		}
		if flusher != nil {
			flusher.Flush()
		}
		if len(events) < exportPage {
			return nil
		}
		f.Before = store.CursorOf(&events[len(events)-1])
		next, err := a.Store.ListAudit(ctx, f)
		if err != nil {
			return errExportCut(err)
		}
		events = next
	}
}

// errExportCut marks an error after the download started: the answer is
// already on its way, so it is only logged.
type exportCut struct{ error }

func errExportCut(err error) error { return exportCut{err} }

// exportAudit is GET /admin/audit/export?format=csv|jsonl&user=&event=.
func (a *Admin) exportAudit(w http.ResponseWriter, r *http.Request, si *browser.SignedIn) error {
	q := r.URL.Query()
	format, ok := exportFormat(q.Get("format"))
	if !ok {
		return web.BadRequest("The download format is csv or jsonl.")
	}
	f, err := a.auditFilter(r.Context(), si.User.TenantID, q.Get("user"), q.Get("event"))
	if err != nil {
		return err
	}
	err = a.writeAuditExport(w, r, si.Tenant, f, format)
	if cut, ok := errors.AsType[exportCut](err); ok {
		a.Pages.Logger(r).Error("audit export cut short", "err", cut.error)
		return nil
	}
	return err
}

// apiExportAudit is GET /admin/api/audit/export?format=csv|jsonl&user=&event=.
func (a *Admin) apiExportAudit(w http.ResponseWriter, r *http.Request, c *adminCaller) error {
	q, err := queryParams(r)
	if err != nil {
		return err
	}
	format, ok := exportFormat(q["format"])
	if !ok {
		return apiBadRequest("format is csv or jsonl.")
	}
	f, err := a.apiAuditFilter(r.Context(), c, q)
	if err != nil {
		return err
	}
	tenant, err := a.Store.TenantByID(r.Context(), c.User.TenantID)
	if err != nil {
		return err
	}
	err = a.writeAuditExport(w, r, tenant, f, format)
	if cut, ok := errors.AsType[exportCut](err); ok {
		a.Pages.Logger(r).Error("audit export cut short", "err", cut.error)
		return nil
	}
	return err
}

// apiAuditFilter is auditFilter with the API's errors.
func (a *Admin) apiAuditFilter(ctx context.Context, c *adminCaller, q map[string]string) (store.AuditFilter, error) {
	f, err := a.auditFilter(ctx, c.User.TenantID, q["user"], q["event"])
	if errors.Is(err, errAdminUserNotFound) {
		return f, errAPIUserNotFound
	}
	if he, ok := errors.AsType[*web.Error](err); ok {
		return f, apiBadRequest(he.Msg)
	}
	return f, err
}

func toAPIAuditEvent(e store.AuditEvent) apiAuditEvent {
	detail := json.RawMessage(e.Detail)
	if !json.Valid(detail) {
		detail, _ = json.Marshal(e.Detail)
	}
	return apiAuditEvent{
		ID: e.ID, Time: e.CreatedAt.UTC(), Event: e.Event, ActorID: e.ActorID, SubjectID: e.SubjectID,
		Detail: detail, IP: e.IP, UserAgent: e.UserAgent,
	}
}
