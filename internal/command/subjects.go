package command

import (
	"fmt"
	"strings"
)

// Subjects. Partners publish commands to CommandSubject; the NATS server maps
// each onto a partition subject (see deploy/nats/nats.conf) that the
// provisioner's consumers read.
const (
	CommandPrefix    = "customers.cmd"
	GatewayPrefix    = "customers.gw"
	PartitionPrefix  = "customers.cmdp"
	OutcomePrefix    = "customers.outcome"
	EventPrefix      = "customers.evt"
	KeyEventPrefix   = "customers.keys"
	DeadLetterPrefix = "customers.dlq"
)

// CommandSubject is where a command for customerID of partnerID is published.
func CommandSubject(partnerID, customerID string) string {
	return CommandPrefix + "." + partnerID + "." + customerID
}

// GatewaySubject is where the gateway publishes a command: the server maps
// it onto the same partition as CommandSubject, marked as the gateway's.
func GatewaySubject(partnerID, customerID string) string {
	return GatewayPrefix + "." + partnerID + "." + customerID
}

// FromGateway reports whether a command subject (as published or as mapped)
// is the gateway's. Only the gateway's NATS user may publish such subjects.
func FromGateway(subject string) bool {
	t := strings.Split(subject, ".")
	return (len(t) == 4 && t[0]+"."+t[1] == GatewayPrefix) ||
		(len(t) == 6 && t[0]+"."+t[1] == PartitionPrefix && t[5] == "gw")
}

// PartitionFilter is the subject filter of one partition's consumer.
func PartitionFilter(partition int) string {
	return fmt.Sprintf("%s.%d.>", PartitionPrefix, partition)
}

// PartitionSubjects are the subjects the command stream stores for one
// partition: the direct form customers.cmdp.<partition>.<partnerId>.<customerId>
// and the gateway's form with a trailing "gw" token. The partition token is
// written in decimal without leading zeros, as the server's partition()
// mapping writes it; a subject of any other shape (another token, one token
// more or less) is stored by no stream, so its publish fails at once and
// its Nats-Msg-Id is not used up.
func PartitionSubjects(partition int) []string {
	direct := fmt.Sprintf("%s.%d.*.*", PartitionPrefix, partition)
	return []string{direct, direct + ".gw"}
}

// PartitionSubject is the partition subject a command of customerID of
// partnerID is stored on when it is in partition (direct form).
func PartitionSubject(partition int, partnerID, customerID string) string {
	return fmt.Sprintf("%s.%d.%s.%s", PartitionPrefix, partition, partnerID, customerID)
}

// OutcomeSubject is where the outcome of commandID is published.
func OutcomeSubject(partnerID, commandID string) string {
	return OutcomePrefix + "." + partnerID + "." + commandID
}

// EventSubject is where an event of type t of customerID is published:
// customers.evt.<partnerId>.<customerId>.<name>, the name being the type
// without its "customer." prefix (registered, activated, …). The last
// token lets a consumer take only the events it acts on (EventFilter):
// retention reads registrations and terminations, not every change.
func EventSubject(partnerID, customerID string, t EventType) string {
	return CustomerEvents(partnerID, customerID) + "." + eventToken(t)
}

// CustomerEvents is the subject prefix of every event of customerID: its
// events are on CustomerEvents(…) + ".*".
func CustomerEvents(partnerID, customerID string) string {
	return EventPrefix + "." + partnerID + "." + customerID
}

// EventFilter is the subject filter of every customer's events of type t.
func EventFilter(t EventType) string {
	return EventPrefix + ".*.*." + eventToken(t)
}

// LegacyEventFilter matches the events stored before EventSubject had the
// type token (customers.evt.<partnerId>.<customerId>): a consumer that
// filters by type must still read those, each of every type.
const LegacyEventFilter = EventPrefix + ".*.*"

// EventLane is the lane key of an event subject: the customer's events
// prefix (CustomerEvents), whatever the type token, so a consumer handles
// one customer's events one after the other, in the stream's order. A
// subject of the legacy form is that prefix already.
func EventLane(subject string) string {
	if strings.Count(subject, ".") == 4 { // customers.evt.<partnerId>.<customerId>.<name>
		return subject[:strings.LastIndexByte(subject, '.')]
	}
	return subject
}

func eventToken(t EventType) string {
	return strings.TrimPrefix(string(t), "customer.")
}

// KeyEventSubject is where retention publishes key lifecycle events.
func KeyEventSubject(partnerID, customerID string) string {
	return KeyEventPrefix + "." + partnerID + "." + customerID
}

// DeadLetterSubject is where a rejected message is kept, by partition token.
func DeadLetterSubject(partnerToken string) string {
	return DeadLetterPrefix + "." + partnerToken
}

// SubjectIDs returns the partner and customer ids a command subject (as
// published, or as mapped onto a partition) names. ok is false when the
// subject has another shape.
func SubjectIDs(subject string) (partnerID, customerID string, ok bool) {
	t := strings.Split(subject, ".")
	switch {
	case len(t) == 4 && (t[0]+"."+t[1] == CommandPrefix || t[0]+"."+t[1] == GatewayPrefix):
		return t[2], t[3], true
	case len(t) == 5 && t[0]+"."+t[1] == PartitionPrefix:
		return t[3], t[4], true
	case len(t) == 6 && t[0]+"."+t[1] == PartitionPrefix && t[5] == "gw":
		return t[3], t[4], true
	}
	return "", "", false
}
