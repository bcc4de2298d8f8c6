# Equivalence pair: the HCL twin of job.yaml (same key, same content).
# job_cluster, depends_on, library and permission each appear ONCE here and must still load
# as one-element lists.

job "eq_daily_rollup" {
  name                = "Equivalence daily rollup"
  description         = "Two-task job used by the YAML/HCL equivalence test."
  max_concurrent_runs = 1
  timeout_seconds     = 3600

  schedule {
    quartz_cron_expression = "0 15 4 * * ?"
    timezone_id            = "Europe/Berlin"
    pause_status           = "UNPAUSED"
  }

  tags = {
    team        = "${var.team}"
    purpose     = "equivalence"
    cost_center = "4711"
  }

  email_notifications {
    on_failure                = ["${var.alert_email}"]
    no_alert_for_skipped_runs = true
  }

  job_cluster {
    job_cluster_key = "rollup"
    new_cluster {
      spark_version = "15.4.x-scala2.12"
      node_type_id  = "Standard_DS3_v2"
      num_workers   = 1
      spark_conf = {
        "spark.sql.shuffle.partitions" = "8"
      }
      custom_tags = {
        team = "${var.team}"
      }
    }
  }

  task {
    task_key        = "extract"
    job_cluster_key = "rollup"
    notebook_task {
      notebook_path = "/Workspace/Shared/${var.team}/eq/extract"
      base_parameters = {
        source    = "${var.storage_root}/eq/raw"
        workspace = "${workspace.name}"
      }
    }
    max_retries               = 2
    min_retry_interval_millis = 60000
    retry_on_timeout          = false
  }

  task {
    task_key        = "rollup"
    job_cluster_key = "rollup"
    depends_on {
      task_key = "extract"
    }
    python_wheel_task {
      package_name = "eq_rollup"
      entry_point  = "main"
      parameters   = ["--catalog", "${var.catalog}", "--days", "7"]
    }
    library {
      whl = "/Volumes/${var.catalog}/artifacts/wheels/eq_rollup-0.3.0-py3-none-any.whl"
    }
  }

  permission {
    user_name = "etl-bot@example.com"
    level     = "IS_OWNER"
  }
}
