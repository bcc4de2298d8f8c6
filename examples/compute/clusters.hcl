# All-purpose clusters.
#
# shared_analytics: the analysts' shared Photon cluster. `start_on_promote = true` makes
#   `tandem promote` start it on the workspace that becomes active, so analysts find it running
#   after a failover. On the passive workspace it stays terminated.
# etl_interactive: the data engineers' development cluster. It takes its VMs from the
#   etl_workers / etl_drivers pools (examples/compute/pools.yaml), so it sets no node_type_id.

cluster "shared_analytics" {
  cluster_name            = "shared-analytics"
  spark_version           = "15.4.x-scala2.12"
  node_type_id            = "Standard_E4ds_v5"
  driver_node_type_id     = "Standard_E8ds_v5"
  runtime_engine          = "PHOTON"
  data_security_mode      = "USER_ISOLATION"
  autotermination_minutes = 60
  start_on_promote        = true

  autoscale {
    min_workers = 2
    max_workers = 10
  }

  azure_attributes {
    availability    = "ON_DEMAND_AZURE"
    first_on_demand = 1
  }

  spark_conf = {
    "spark.sql.adaptive.enabled"             = "true"
    "spark.databricks.delta.preview.enabled" = "true"
    "spark.databricks.io.cache.enabled"      = "true"
  }

  spark_env_vars = {
    STORAGE_ROOT = "${var.storage_root}"
  }

  custom_tags = {
    team    = "analysts"
    purpose = "shared-analytics"
    owner   = "alice@example.com"
  }

  init_script {
    workspace {
      destination = "/Workspace/Shared/${var.team}/init/install-odbc-driver.sh"
    }
  }

  permission {
    group_name = "analysts"
    level      = "CAN_ATTACH_TO"
  }
  permission {
    group_name = "data-eng"
    level      = "CAN_RESTART"
  }
  permission {
    user_name = "alice@example.com"
    level     = "CAN_MANAGE"
  }
}

cluster "etl_interactive" {
  cluster_name            = "etl-interactive"
  spark_version           = "15.4.x-scala2.12"
  instance_pool_id        = "${resources.instance_pools.etl_workers.id}"
  driver_instance_pool_id = "${resources.instance_pools.etl_drivers.id}"
  num_workers             = 2
  autotermination_minutes = 30
  data_security_mode      = "USER_ISOLATION"

  spark_conf = {
    "spark.sql.shuffle.partitions" = "64"
  }

  spark_env_vars = {
    STORAGE_ROOT   = "${var.storage_root}"
    ETL_CATALOG    = "${var.catalog}"
    SQL_SERVER_PWD = "{{secrets/etl/sql_server_password}}"
  }

  custom_tags = {
    team    = "${var.team}"
    purpose = "etl-development"
  }

  permission {
    group_name = "data-eng"
    level      = "CAN_RESTART"
  }
  permission {
    user_name = "etl-bot@example.com"
    level     = "CAN_MANAGE"
  }
  permission {
    group_name = "analysts"
    level      = "CAN_ATTACH_TO"
  }
}
