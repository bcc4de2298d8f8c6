# File-arrival triggered ingest: Auto Loader picks up new order files as soon as they land in
# the workspace's own lake (storage_root differs per workspace, see environments/*.yaml).
# On the passive workspace tandem sets trigger.pause_status to PAUSED.

job "orders_landing_ingest" {
  name                = "Orders landing ingest"
  max_concurrent_runs = 1
  timeout_seconds     = 1800

  queue {
    enabled = true
  }

  trigger {
    pause_status = "UNPAUSED"
    file_arrival {
      url                               = "${var.storage_root}/landing/orders/"
      min_time_between_triggers_seconds = 60
      wait_after_last_change_seconds    = 90
    }
  }

  tags = {
    team    = "${var.team}"
    domain  = "orders"
    trigger = "file-arrival"
  }

  email_notifications {
    on_failure = ["${var.alert_email}"]
  }

  parameter {
    name    = "source_path"
    default = "${var.storage_root}/landing/orders/"
  }
  parameter {
    name    = "target_table"
    default = "${var.catalog}.bronze.orders_raw"
  }

  task {
    task_key = "autoload_orders"
    new_cluster {
      spark_version           = "15.4.x-scala2.12"
      instance_pool_id        = "${resources.instance_pools.etl_workers.id}"
      driver_instance_pool_id = "${resources.instance_pools.etl_drivers.id}"
      num_workers             = 1
      data_security_mode      = "SINGLE_USER"
      single_user_name        = "etl-bot@example.com"
      spark_conf = {
        "spark.databricks.cloudFiles.schemaInference.sampleSize.numFiles" = "200"
      }
      custom_tags = {
        team = "${var.team}"
        job  = "orders_landing_ingest"
      }
    }
    notebook_task {
      notebook_path = "/Workspace/Shared/${var.team}/etl/bronze/autoload_orders"
      base_parameters = {
        source_path  = "{{job.parameters.source_path}}"
        target_table = "{{job.parameters.target_table}}"
        checkpoint   = "${var.storage_root}/checkpoints/orders_landing/${workspace.name}"
      }
    }
    library {
      pypi {
        package = "python-dateutil==2.9.0"
      }
    }
    max_retries               = 3
    min_retry_interval_millis = 30000
    retry_on_timeout          = true
  }

  permission {
    user_name = "etl-bot@example.com"
    level     = "IS_OWNER"
  }
  permission {
    group_name = "data-eng"
    level      = "CAN_MANAGE_RUN"
  }
  permission {
    group_name = "analysts"
    level      = "CAN_VIEW"
  }
}
