package vault

// Endpoint is a Vault API path a Client method calls with the client's
// token, and the policy capability the call needs there. In Path,
// "customer-*" stands for any customer's key name (KeyName).
type Endpoint struct {
	Path       string
	Capability string
}

// Endpoints lists, for every Client method that calls Vault with the
// client's token, each path it may call and the capability that needs.
// Health is absent: sys/health needs no token. The services' policies
// (policies/*.hcl) must grant exactly the union of the methods each
// service's code calls, no more (policy tests derive and compare it), and
// a test records the real calls of each method against Vault, so this
// table cannot drift from the code.
var Endpoints = map[string][]Endpoint{
	// Encrypt answers a 403 by checking whether the key exists
	// (encryptError), so it reads the key too.
	"Encrypt":      {{"transit/encrypt/customer-*", "update"}, {"transit/keys/customer-*", "read"}},
	"EncryptBatch": {{"transit/encrypt/customer-*", "update"}, {"transit/keys/customer-*", "read"}},
	"Decrypt":      {{"transit/decrypt/customer-*", "update"}},
	"DecryptBatch": {{"transit/decrypt/customer-*", "update"}},
	"KeyStatus":    {{"transit/keys/customer-*", "read"}},
	// Creating a key that exists already is an update of it.
	"CreateKey": {{"transit/keys/customer-*", "create"}, {"transit/keys/customer-*", "update"}},
	// DestroyKey allows deletion, deletes, and reads to confirm the key is gone.
	"DestroyKey": {
		{"transit/keys/customer-*/config", "update"},
		{"transit/keys/customer-*", "delete"},
		{"transit/keys/customer-*", "read"},
	},
	"RenewToken":     {{"auth/token/renew-self", "update"}},
	"KeepTokenAlive": {{"auth/token/renew-self", "update"}},
	"CheckToken":     {{"auth/token/lookup-self", "read"}},
}

// ServiceMethods are the Client methods every service calls through
// internal/service: it checks its token at start and keeps it alive.
var ServiceMethods = []string{"Health", "CheckToken", "KeepTokenAlive"}
