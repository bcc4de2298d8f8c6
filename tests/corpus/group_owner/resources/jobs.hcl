# case: a group as a job's IS_OWNER
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1

  permission {
    group_name = "data-eng"
    level      = "IS_OWNER"
  }
}
