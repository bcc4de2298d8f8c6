# Customer 360 refresh: runs on the shared all-purpose cluster `shared_analytics`
# (examples/compute/clusters.hcl) instead of a job cluster, so analysts get fresh tables
# during the working day without a cluster start per run.
#
# Both tasks point at the same cluster. The first uses the quoted reference string, the second
# the bare HCL traversal; tandem treats the two forms as identical.

job "customer_360_refresh" {
  name                = "Customer 360 refresh"
  description         = "Rebuilds the customer_360 gold table from silver every two hours during business hours."
  max_concurrent_runs = 1
  timeout_seconds     = 3600

  schedule {
    quartz_cron_expression = "0 0 7-19/2 ? * MON-FRI"
    timezone_id            = "America/New_York"
    pause_status           = "UNPAUSED"
  }

  tags = {
    team   = "${var.team}"
    domain = "customer"
    tier   = "gold"
  }

  email_notifications {
    on_failure                = ["${var.alert_email}", "alice@example.com"]
    no_alert_for_skipped_runs = true
  }

  task {
    task_key            = "merge_profiles"
    existing_cluster_id = "${resources.clusters.shared_analytics.id}"
    notebook_task {
      notebook_path = "/Workspace/Shared/${var.team}/customer/merge_profiles"
      base_parameters = {
        catalog   = "${var.catalog}"
        workspace = "${workspace.name}"
      }
    }
    library {
      pypi {
        package = "recordlinkage==0.16"
      }
    }
    max_retries               = 1
    min_retry_interval_millis = 300000
  }

  task {
    task_key            = "score_segments"
    existing_cluster_id = resources.clusters.shared_analytics.id # bare traversal form
    depends_on {
      task_key = "merge_profiles"
    }
    spark_python_task {
      python_file = "/Workspace/Shared/${var.team}/customer/score_segments.py"
      parameters  = ["--catalog", "${var.catalog}", "--model", "segments_v3"]
    }
    library {
      whl = "/Volumes/${var.catalog}/artifacts/wheels/customer_models-2.1.0-py3-none-any.whl"
    }
    library {
      pypi {
        package = "scikit-learn==1.5.1"
      }
    }
  }

  permission {
    user_name = "alice@example.com"
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
