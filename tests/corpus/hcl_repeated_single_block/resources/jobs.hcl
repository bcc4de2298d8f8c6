# case: an object block (schedule) given twice
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1

  schedule {
    quartz_cron_expression = "0 30 1 * * ?"
    timezone_id            = "UTC"
  }

  schedule {
    quartz_cron_expression = "0 30 13 * * ?"
    timezone_id            = "UTC"
  }
}
