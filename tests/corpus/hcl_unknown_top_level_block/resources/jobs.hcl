# case: an HCL top-level block type tandem does not know (jobs instead of job)
jobs "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1
}
