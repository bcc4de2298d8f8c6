# case: a per-workspace secret without a source for secondary
secret_scope "reporting" {
  name = "reporting"

  secret "warehouse_token" {
    primary = { env = "REPORTING_WAREHOUSE_TOKEN_EAST" }
  }
}
