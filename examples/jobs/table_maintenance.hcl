# Weekly Delta maintenance (OPTIMIZE, VACUUM, ANALYZE) over the ETL catalog, packaged as a
# Python wheel. Runs on the pools so it shares warm instances with the nightly ETL.

job "delta_table_maintenance" {
  name                = "Delta table maintenance"
  max_concurrent_runs = 1
  timeout_seconds     = 21600

  schedule {
    quartz_cron_expression = "0 0 3 ? * SUN"
    timezone_id            = "UTC"
    pause_status           = "UNPAUSED"
  }

  tags = {
    team    = "${var.team}"
    purpose = "maintenance"
  }

  email_notifications {
    on_failure                = ["${var.alert_email}"]
    no_alert_for_skipped_runs = true
  }

  job_cluster {
    job_cluster_key = "maintenance"
    new_cluster {
      spark_version           = "15.4.x-scala2.12"
      instance_pool_id        = "${resources.instance_pools.etl_workers.id}"
      driver_instance_pool_id = "${resources.instance_pools.etl_drivers.id}"
      autoscale {
        min_workers = 1
        max_workers = 6
      }
      data_security_mode = "SINGLE_USER"
      single_user_name   = "6f1c2a9e-1d2b-4c3d-9e8f-0a1b2c3d4e5f"
      custom_tags = {
        team = "${var.team}"
        job  = "delta_table_maintenance"
      }
    }
  }

  task {
    task_key        = "optimize"
    job_cluster_key = "maintenance"
    python_wheel_task {
      package_name = "lakehouse_ops"
      entry_point  = "optimize"
      named_parameters = {
        catalog = "${var.catalog}"
        schemas = "bronze,silver,gold"
      }
    }
    library {
      whl = "/Volumes/${var.catalog}/artifacts/wheels/lakehouse_ops-0.9.4-py3-none-any.whl"
    }
  }

  task {
    task_key        = "vacuum"
    job_cluster_key = "maintenance"
    depends_on {
      task_key = "optimize"
    }
    python_wheel_task {
      package_name = "lakehouse_ops"
      entry_point  = "vacuum"
      named_parameters = {
        catalog         = "${var.catalog}"
        retention_hours = "168"
      }
    }
    library {
      whl = "/Volumes/${var.catalog}/artifacts/wheels/lakehouse_ops-0.9.4-py3-none-any.whl"
    }
  }

  task {
    task_key        = "analyze"
    job_cluster_key = "maintenance"
    depends_on {
      task_key = "optimize"
    }
    run_if = "ALL_DONE"
    python_wheel_task {
      package_name = "lakehouse_ops"
      entry_point  = "analyze"
      named_parameters = {
        catalog = "${var.catalog}"
      }
    }
    library {
      whl = "/Volumes/${var.catalog}/artifacts/wheels/lakehouse_ops-0.9.4-py3-none-any.whl"
    }
  }

  permission {
    service_principal_name = "6f1c2a9e-1d2b-4c3d-9e8f-0a1b2c3d4e5f"
    level                  = "IS_OWNER"
  }
  permission {
    group_name = "data-eng"
    level      = "CAN_MANAGE_RUN"
  }
  permission {
    group_name = "platform-ops"
    level      = "CAN_VIEW"
  }
}
