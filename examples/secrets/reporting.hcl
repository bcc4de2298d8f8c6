# Secrets for the reporting side (finance report export, BI refresh). Same rules as
# examples/secrets/etl.yaml: only sources, never values.
#   secret "key" { env = "VAR" }                          same source on every workspace
#   secret "key" { primary = {...}  secondary = {...} }   one source per workspace

secret_scope "reporting" {
  name = "reporting"

  secret "powerbi_client_secret" {
    primary   = { env = "REPORTING_PBI_SECRET_EAST" }
    secondary = { env = "REPORTING_PBI_SECRET_WEST" }
  }

  secret "warehouse_token" {
    primary   = { env = "REPORTING_WAREHOUSE_TOKEN_EAST" }
    secondary = { env = "REPORTING_WAREHOUSE_TOKEN_WEST" }
  }

  secret "smtp_password" {
    env = "REPORTING_SMTP_PASSWORD"
  }

  acl {
    principal  = "analysts"
    permission = "READ"
  }
  acl {
    principal  = "alice@example.com"
    permission = "WRITE"
  }
  acl {
    principal  = "platform-ops"
    permission = "MANAGE"
  }
}
