package admin

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/portcullis-idp/portcullis/idp/store"
	"github.com/portcullis-idp/portcullis/idp/web"
	"github.com/portcullis-idp/portcullis/templates"
)

func attempts(n int) string { return plural(n, "attempt", "attempts") }

// plural is "1 session", "0 sessions", "2 sessions".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// auditParty names an audit event's actor or subject for the page: the
// user's email, "Organisation" for the tenant itself, nothing for nobody
// (the system, or an unknown email at sign-in).
func auditParty(id string, tenant *store.Tenant, emails map[string]string) string {
	switch {
	case id == "":
		return ""
	case id == tenant.ID:
		return "Organisation"
	case emails[id] != "":
		return emails[id]
	default:
		return "Unknown user"
	}
}

// auditDetails renders an event's JSON detail as short "key: value"
// pairs, the known administrative ones in words.
func auditDetails(detail string) string {
	var m map[string]any
	if json.Unmarshal([]byte(detail), &m) != nil || len(m) == 0 {
		return ""
	}
	var parts []string
	if on, ok := m["require_tfa"].(bool); ok {
		if on {
			parts = append(parts, "turned on")
		} else {
			parts = append(parts, "turned off")
		}
		delete(m, "require_tfa")
	}
	switch m["option"] {
	case store.RequireTFAClearSessions:
		parts = append(parts, "Clear all user sessions")
		delete(m, "option")
	case store.RequireTFAKeepSessions:
		parts = append(parts, "Allow user sessions to stay logged in")
		delete(m, "option")
	}
	if n, ok := m["sessions_ended"].(float64); ok {
		parts = append(parts, plural(int(n), "session", "sessions")+" ended")
		delete(m, "sessions_ended")
	}
	if via, ok := m["via"].(string); ok {
		parts = append(parts, "via "+via)
		delete(m, "via")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %v", strings.ReplaceAll(k, "_", " "), m[k]))
	}
	return web.Truncate(strings.Join(parts, " · "), 300)
}

func mfaStateName(st store.MFAState) string {
	switch {
	case st.LockedUntil != nil:
		return templates.AdminMFALocked
	case st.Active:
		return templates.AdminMFAActive
	default:
		return templates.AdminMFANotEnrolled
	}
}

// --- the admin operations, shared by the page and the API ---

// passwordLockNotes says, for the users list, which addresses password
// entry is locked for and until when.
func passwordLockNotes(locks []store.SignInCounter) []string {
	var notes []string
	for _, l := range locks {
		from := "from " + l.Address
		if l.Address == store.AnyAddress {
			from = "from new addresses"
		}
		notes = append(notes, "Password locked "+from+" until "+web.FormatTime(*l.LockedUntil))
	}
	return notes
}
