# case: HCL syntax error (attribute without `=`)
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs   1

  task {
    task_key = "ingest"
    notebook_task {
      notebook_path = "/Workspace/Shared/etl/ingest"
    }
  }
}
