# case: a job cluster's new_cluster with both num_workers and autoscale
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1

  job_cluster {
    job_cluster_key = "etl"
    new_cluster {
      spark_version = "15.4.x-scala2.12"
      node_type_id  = "Standard_DS3_v2"
      num_workers   = 2
      autoscale {
        min_workers = 2
        max_workers = 8
      }
    }
  }

  task {
    task_key        = "ingest"
    job_cluster_key = "etl"
    notebook_task { notebook_path = "/Workspace/Shared/etl/ingest" }
  }
}
