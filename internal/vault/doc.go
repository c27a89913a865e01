// Package vault is the adapter to HashiCorp Vault's transit secrets engine,
// which holds one encryption key per customer (crypto-shredding).
//
// The rules it enforces:
//
//   - Every customer has its own key, named KeyName(id) = "customer-<id>",
//     of type aes256-gcm96, created with exportable=false and
//     allow_plaintext_backup=false, so key material never leaves Vault.
//   - Keys are only created explicitly (CreateKey). Bootstrap sets
//     disable_upsert on the transit mount, so an encrypt with a missing key
//     fails with ErrKeyNotFound instead of silently creating a new key —
//     otherwise a destroyed customer's key would come back on the next write.
//   - deletion_allowed is set only inside DestroyKey, immediately before the
//     delete. After DestroyKey, old ciphertext can never be decrypted again.
//   - DestroyKey succeeds only when a read of the key afterwards gets
//     Vault's own answer for a missing key: a "not found" that could come
//     from something else (a missing mount, a proxy) never counts as a
//     destroyed key.
//   - Least privilege: Bootstrap writes one policy per service. The gateway
//     may encrypt, decrypt and check a key exists; the provisioner may only
//     encrypt and check a key exists (it never reads contact info back); only
//     retention may create, configure and delete keys, and it cannot
//     decrypt. No token may export or back up a key.
//   - Errors never contain plaintext or ciphertext, only the operation, the
//     key name, the HTTP status and Vault's (redacted) reason. They are
//     classified with sentinel errors; the transient ones also match
//     failure.ErrTransient, and IsTransient (failure.IsTransient) says which
//     are worth retrying with backoff.
//
// Vault's own HTTP retries are disabled: callers (watermill's Retry
// middleware, the retention scheduler, Retry in this package) own the retry
// policy, so retries do not multiply.
package vault
