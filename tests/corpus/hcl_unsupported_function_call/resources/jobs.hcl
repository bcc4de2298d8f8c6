# case: an HCL function call (not evaluated by tandem)
job "nightly_etl" {
  name                = upper("nightly etl")
  max_concurrent_runs = 1
}
