package retention_test

import (
	"github.com/textkit/customers/internal/redisstore"
	"github.com/textkit/customers/internal/retention"
)

// The real store is what every service is wired with.
var _ retention.Store = (*redisstore.Store)(nil)
