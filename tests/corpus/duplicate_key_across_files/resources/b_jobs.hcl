job "nightly_etl" {
  name                = "Nightly ETL (copy)"
  max_concurrent_runs = 1
}
