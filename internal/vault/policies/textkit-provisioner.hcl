# textkit-provisioner: the Vault policy of cmd/provisioner.
# The provisioner seals the plaintext contact info of commands published
# straight onto NATS, and checks a customer's key exists before activation.
# It never reads contact info back: no decrypt. It may use customer keys,
# never manage them: no create, config, rotate, delete, export or backup.
# Only the retention service manages keys.
#
# A "*" in a Vault policy path is a prefix glob, so "customer-*" also covers
# sub-paths such as transit/keys/customer-<id>/config; that is why only the
# read capability is granted under transit/keys/.

path "transit/encrypt/customer-*" {
  capabilities = ["update"]
}

# Check that a customer's key exists (KeyStatus).
path "transit/keys/customer-*" {
  capabilities = ["read"]
}

# Contact info is never read back here, and key material never leaves
# Vault. Deny wins over any grant, so these stay closed even if a broader
# policy is attached later.
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

