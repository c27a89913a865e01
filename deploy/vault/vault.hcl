# Vault server configuration for TextKit Customers: the local stack
# (scripts/up.sh) and docker-compose.yml both render this template with
# deploy/vault/vault.sh, which replaces each ${NAME} with the value of that
# environment variable (every one must be set). Integrated storage (raft) on
# disk: transit keys survive a restart. Vault then starts sealed; vault.sh
# initialises it once (one key share) and unseals it on every start.
#
# Plain HTTP: the local stack listens on 127.0.0.1 only, and compose keeps
# Vault on its own network with the port published on 127.0.0.1. This is a
# development setup; production runs Vault with TLS, an auto-unseal seal and
# unseal keys held by people, never beside the data.

storage "raft" {
  path    = "${TEXTKIT_VAULT_STORAGE_DIR}"  # e.g. .data/vault/raft
  node_id = "textkit-vault"
}

listener "tcp" {
  address         = "${TEXTKIT_VAULT_LISTEN}"          # e.g. 127.0.0.1:8200
  cluster_address = "${TEXTKIT_VAULT_CLUSTER_LISTEN}"  # e.g. 127.0.0.1:8201
  tls_disable     = true
}

# Raft needs both, even on a single node.
api_addr     = "${TEXTKIT_VAULT_API_ADDR}"      # e.g. http://127.0.0.1:8200
cluster_addr = "${TEXTKIT_VAULT_CLUSTER_ADDR}"  # e.g. https://127.0.0.1:8201

# mlock needs CAP_IPC_LOCK, which neither a developer's shell nor the compose
# service has; raft's files are not locked in memory anyway.
disable_mlock = true
ui            = false
