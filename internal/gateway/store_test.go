package gateway_test

import (
	"github.com/textkit/customers/internal/gateway"
	"github.com/textkit/customers/internal/redisstore"
)

// The real store is what every service is wired with.
var (
	_ gateway.Store         = (*redisstore.Store)(nil)
	_ gateway.OutcomeReader = (*redisstore.Store)(nil)
)
