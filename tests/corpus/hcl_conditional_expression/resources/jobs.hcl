# case: an HCL conditional (not evaluated by tandem)
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = workspace.role == "active" ? 1 : 0
}
