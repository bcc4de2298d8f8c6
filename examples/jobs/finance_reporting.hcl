# Daily finance report. `placement = "active_only"`: the job exists only on the active
# workspace. `tandem promote` creates it on the new active workspace and removes it from the
# one that becomes passive, so finance never receives two copies of the report.

job "finance_daily_report" {
  name                = "Finance daily report"
  placement           = "active_only"
  max_concurrent_runs = 1
  timeout_seconds     = 5400

  schedule {
    quartz_cron_expression = "0 0 6 ? * MON-FRI"
    timezone_id            = "America/New_York"
    pause_status           = "UNPAUSED"
  }

  tags = {
    team   = "${var.team}"
    domain = "finance"
    sla    = "0800-et"
  }

  email_notifications {
    on_success = ["finance-reports@example.com"]
    on_failure = ["${var.alert_email}", "finance-reports@example.com"]
  }

  health {
    rule {
      metric = "RUN_DURATION_SECONDS"
      op     = "GREATER_THAN"
      value  = 3600
    }
  }

  job_cluster {
    job_cluster_key = "reporting"
    new_cluster {
      spark_version      = "15.4.x-scala2.12"
      node_type_id       = "Standard_DS4_v2"
      num_workers        = 2
      data_security_mode = "SINGLE_USER"
      single_user_name   = "alice@example.com"
      custom_tags = {
        team = "${var.team}"
        job  = "finance_daily_report"
      }
    }
  }

  task {
    task_key        = "refresh_ledger"
    job_cluster_key = "reporting"
    notebook_task {
      notebook_path = "/Workspace/Shared/${var.team}/finance/refresh_ledger"
      base_parameters = {
        catalog = "${var.catalog}"
      }
    }
  }

  task {
    task_key        = "export_report"
    job_cluster_key = "reporting"
    depends_on {
      task_key = "refresh_ledger"
    }
    spark_python_task {
      python_file = "/Workspace/Shared/${var.team}/finance/export_report.py"
      parameters  = ["--catalog", "${var.catalog}", "--out", "${var.storage_root}/exports/finance/"]
    }
    library {
      pypi {
        package = "openpyxl==3.1.5"
      }
    }
  }

  permission {
    user_name = "alice@example.com"
    level     = "IS_OWNER"
  }
  permission {
    group_name = "analysts"
    level      = "CAN_MANAGE_RUN"
  }
  permission {
    group_name = "data-eng"
    level      = "CAN_VIEW"
  }
}
