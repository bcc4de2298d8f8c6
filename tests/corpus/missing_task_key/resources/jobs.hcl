# case: a task block without its required task_key
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1

  task {
    notebook_task {
      notebook_path = "/Workspace/Shared/etl/ingest"
    }
  }
}
