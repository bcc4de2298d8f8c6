# case: a permission entry naming two principals (user_name and group_name)
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1

  permission {
    user_name  = "alice@example.com"
    group_name = "data-eng"
    level      = "CAN_MANAGE_RUN"
  }
}
