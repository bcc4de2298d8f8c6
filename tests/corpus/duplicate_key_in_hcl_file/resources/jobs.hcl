# case: two job blocks with the same label in one HCL file
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1
}

job "nightly_etl" {
  name                = "Nightly ETL v2"
  max_concurrent_runs = 1
}
