# case: the same attribute twice in one HCL block
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1
  timeout_seconds     = 3600
  max_concurrent_runs = 2
}
