package load

import (
	"context"
	"time"

	"github.com/textkit/customers/internal/ledger"
)

// Op is one command the load tool sends.
type Op struct {
	Type       ledger.Type
	CustomerID string
	// Space and Label are set for REGISTER.
	Space, Label string
	// ExpectedVersion, when set, is sent as the command's expected version.
	ExpectedVersion *int64
	// Retention and Period are set for TERMINATE (Period for TEMPORARY).
	Retention string
	Period    int
	// Contact is the contact info of UPDATE_CONTACT_INFO.
	Contact Contact
	// Ordered is false when other commands of the same customer may be in
	// flight at the same time (the hot mix).
	Ordered bool
}

// Contact is the contact info an UPDATE_CONTACT_INFO sends.
type Contact struct {
	BusinessName, PhoneNumber, AddressLine1, PostalCode, Province, Country string
}

// Step is what one request sends: one command, or several sent in order in
// one request, as the docs join activateCustomer and
// updateCustomerContactInfo.
type Step struct {
	Ops []Op
	// Measured is false for the setup phase (not counted in the report,
	// but written to the ledger).
	Measured bool
	// IntendedAt is when the step was due (open model); zero means send
	// now and count from the send time (closed model).
	IntendedAt time.Time
}

// Result is the answer to one Op.
type Result struct {
	Answer ledger.Answer
	// Code is the answer's error code, "" when applied.
	Code      string
	Message   string
	Retryable bool
	// CommandID is the command's id when the client knows it.
	CommandID string
	// IdempotencyKey and Field are those of the GraphQL request.
	IdempotencyKey string
	Field          string
	// CustomerVersion is the customer's version the answer reports.
	CustomerVersion *int64
	DestroyAt       time.Time
	SentAt          time.Time
	AnsweredAt      time.Time
	// Again is the answer to the same command published once more after
	// this answer (Config.Republish), nil when it was not.
	Again *Result
}

// Target sends steps to the stack: one Result per Op of the step, in order.
// Send must be safe for concurrent use.
type Target interface {
	// Name is ledger.ViaGraphQL or ledger.ViaNATS.
	Name() string
	Send(ctx context.Context, step Step) []Result
	Close() error
}
