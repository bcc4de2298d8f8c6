# case: three tasks that depend on each other in a cycle
job "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1

  task {
    task_key = "bronze"
    depends_on { task_key = "gold" }
    notebook_task { notebook_path = "/Workspace/Shared/etl/bronze" }
  }
  task {
    task_key = "silver"
    depends_on { task_key = "bronze" }
    notebook_task { notebook_path = "/Workspace/Shared/etl/silver" }
  }
  task {
    task_key = "gold"
    depends_on { task_key = "silver" }
    notebook_task { notebook_path = "/Workspace/Shared/etl/gold" }
  }
}
