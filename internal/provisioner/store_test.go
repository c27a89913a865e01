package provisioner_test

import (
	"github.com/textkit/customers/internal/provisioner"
	"github.com/textkit/customers/internal/redisstore"
)

// The real store is what every service is wired with.
var _ provisioner.Store = (*redisstore.Store)(nil)
