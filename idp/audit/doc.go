// Package audit is the catalogue of Portcullis's audit events: one typed
// constant per event, and for each the label the admin page shows and the
// fields the event carries (who acted, whom it is about, the keys of its
// JSON detail).
//
// Every audit row is written with one of these constants
// (store.AuditEvent.Event is an Event), the admin page takes its labels and
// its event filter from All and Label, and the admin API accepts only Known
// names as a filter. A test of the module checks that no code writes an
// event by any other means, and that the README's table of events is this
// catalogue. Adding an event is one constant and one catalogue entry here.
//
// The package is a leaf: it imports nothing of Portcullis.
package audit
