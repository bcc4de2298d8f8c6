# case: a job block without its logical-key label
job {
  name                = "Nightly ETL"
  max_concurrent_runs = 1
}
