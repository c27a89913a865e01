package command_test

import (
	"testing"

	"github.com/textkit/customers/internal/command"
)

func TestEventSubjectsAndLanes(t *testing.T) {
	const p, c = "25521a6f-b8d1-414b-8575-545430f076fd", "e4c81004-1a4c-477f-97e3-b67022e9a351"
	reg := command.EventSubject(p, c, command.Registered)
	if reg != "customers.evt."+p+"."+c+".registered" {
		t.Fatalf("EventSubject = %q", reg)
	}
	if got := command.EventSubject(p, c, command.ContactInfoUpdated); got != command.CustomerEvents(p, c)+".contactInfoUpdated" {
		t.Fatalf("EventSubject(contact) = %q", got)
	}
	if got := command.EventFilter(command.Terminated); got != "customers.evt.*.*.terminated" {
		t.Fatalf("EventFilter = %q", got)
	}
	// One lane per customer, whatever the type, and for the legacy form.
	for _, subject := range []string{reg, command.EventSubject(p, c, command.Terminated), command.CustomerEvents(p, c)} {
		if got := command.EventLane(subject); got != command.CustomerEvents(p, c) {
			t.Errorf("EventLane(%q) = %q, want %q", subject, got, command.CustomerEvents(p, c))
		}
	}
}
