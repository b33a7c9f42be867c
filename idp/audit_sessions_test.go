package idp_test

import (
	"context"
	"testing"

	"github.com/portcullis-idp/portcullis/idp/audit"
	"github.com/portcullis-idp/portcullis/idp/store"
)

// wantAudit checks that the newest events of kind ev about subjectID, in
// the test tenant, have exactly the details want (newest first), with the
// actor the catalogue says: the subject when a user acted, none otherwise.
func (e *env) wantAudit(t *testing.T, what string, ev audit.Event, subjectID string, want ...string) {
	t.Helper()
	evs, err := e.store.ListAudit(context.Background(), store.AuditFilter{TenantID: e.tenant.ID, SubjectID: subjectID, Event: ev})
	must(t, err)
	if len(evs) != len(want) {
		t.Errorf("%s: %d %s events, want %d: %+v", what, len(evs), ev, len(want), evs)
		return
	}
	spec, _ := audit.Lookup(ev)
	for i, got := range evs {
		actor := ""
		if spec.Actor == audit.PartyUser {
			actor = subjectID
		}
		if got.Detail != want[i] || got.ActorID != actor {
			t.Errorf("%s: %s event %d = actor %q, detail %s; want actor %q, detail %s", what, ev, i, got.ActorID, got.Detail, actor, want[i])
		}
	}
}

func (e *env) userID(t *testing.T, email string) string {
	t.Helper()
	u, err := e.store.UserByEmail(context.Background(), email)
	must(t, err)
	return u.ID
}
