# One node of the three-node Vault cluster of the clustered stack
# (scripts/up.sh --cluster; docker compose --profile cluster), rendered by
# deploy/vault/vault.sh config like vault.hcl (each ${NAME} from the
# environment). Integrated storage (raft): every node holds a copy of every
# transit key; one node is active, the others are standbys that forward
# requests to it, and when the active node dies a standby takes over.
# `vault.sh unseal-cluster` initialises node 1 once and unseals all three;
# nodes 2 and 3 join node 1 through retry_join.
#
# Plain HTTP on loopback (or compose's network), like vault.hcl: a
# development setup, not a production one.

storage "raft" {
  path    = "${TEXTKIT_VAULT_STORAGE_DIR}"  # e.g. .data/cluster/vault-1/raft
  node_id = "${TEXTKIT_VAULT_NODE_ID}"      # e.g. textkit-vault-1

  # Raft's fastest timing: a lost leader is replaced within seconds.
  performance_multiplier = 1

  retry_join {
    leader_api_addr = "${TEXTKIT_VAULT_JOIN_1}"  # e.g. http://127.0.0.1:8211
  }
  retry_join {
    leader_api_addr = "${TEXTKIT_VAULT_JOIN_2}"
  }
  retry_join {
    leader_api_addr = "${TEXTKIT_VAULT_JOIN_3}"
  }
}

listener "tcp" {
  address         = "${TEXTKIT_VAULT_LISTEN}"          # e.g. 127.0.0.1:8211
  cluster_address = "${TEXTKIT_VAULT_CLUSTER_LISTEN}"  # e.g. 127.0.0.1:8221
  tls_disable     = true
}

api_addr     = "${TEXTKIT_VAULT_API_ADDR}"      # e.g. http://127.0.0.1:8211
cluster_addr = "${TEXTKIT_VAULT_CLUSTER_ADDR}"  # e.g. https://127.0.0.1:8221

disable_mlock = true
ui            = false
