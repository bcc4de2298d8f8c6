# case: a Quartz cron with neither day-of-month nor day-of-week `?`
job "nightly_etl" {
  name = "Nightly ETL"

  schedule {
    quartz_cron_expression = "0 0 2 * * *"
    timezone_id            = "UTC"
  }

  task {
    task_key = "ingest"
    notebook_task {
      notebook_path = "/Workspace/Shared/etl/ingest"
    }
  }
}
