# Equivalence pair: the HCL twin of secret_scope.yaml. `secret "key" {}` maps to secrets.key;
# the single acl block must load as a one-element list.

secret_scope "eq_scope" {
  name = "tandem-eq"

  secret "api_token" {
    env = "EQ_API_TOKEN"
  }

  secret "db_password" {
    primary   = { env = "EQ_DB_PASSWORD_EAST" }
    secondary = { env = "EQ_DB_PASSWORD_WEST" }
  }

  acl {
    principal  = "data-eng"
    permission = "READ"
  }
}
