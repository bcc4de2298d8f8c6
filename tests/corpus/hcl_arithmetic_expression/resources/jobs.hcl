# case: HCL arithmetic (4 * 3600), which tandem does not evaluate
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1
  timeout_seconds     = 4 * 3600
}
