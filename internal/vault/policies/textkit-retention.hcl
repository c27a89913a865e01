# textkit-retention: the Vault policy of cmd/retention.
# Retention manages the lifecycle of customer keys: it creates a key when a
# customer is registered and destroys it when the retention period ends
# (crypto-shredding). It never sees customer data: no encrypt, decrypt,
# rewrap or datakey, no export, no backup.

# create: new keys; read: KeyStatus and DestroyKey's read-back that confirms
# a deletion; update: re-creating an existing key
# (idempotent CreateKey) and, through the prefix glob, the sub-path
# transit/keys/customer-<id>/config where DestroyKey sets deletion_allowed;
# delete: the key itself. The glob also reaches a key's other sub-paths
# (rotate, trim), which retention never calls; Vault cannot narrow it: a
# deny on "transit/keys/+/rotate" loses to this more specific path.
path "transit/keys/customer-*" {
  capabilities = ["create", "read", "update", "delete"]
}

# Deny wins over any grant, so these stay closed even if a broader policy
# is attached later.
path "transit/encrypt/*" {
  capabilities = ["deny"]
}

path "transit/decrypt/*" {
  capabilities = ["deny"]
}

path "transit/rewrap/*" {
  capabilities = ["deny"]
}

path "transit/datakey/*" {
  capabilities = ["deny"]
}

path "transit/export/*" {
  capabilities = ["deny"]
}

path "transit/backup/*" {
  capabilities = ["deny"]
}

# Tokens are created without the default policy (least privilege); these
# are the parts of it a long-running service needs: inspect and renew its
# own token (internal/service checks it at start and renews it). Nothing
# else: policy_derive_test.go checks every grant serves a call.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}

