# Equivalence pair: the HCL twin of cluster.yaml. init_script and permission appear once and
# must load as one-element lists; autoscale / azure_attributes / passive are object blocks.

cluster "eq_shared_cluster" {
  cluster_name            = "eq-shared-cluster"
  spark_version           = "15.4.x-scala2.12"
  node_type_id            = "Standard_DS3_v2"
  autotermination_minutes = 45
  data_security_mode      = "USER_ISOLATION"
  runtime_engine          = "PHOTON"
  enable_elastic_disk     = true

  autoscale {
    min_workers = 1
    max_workers = 4
  }

  azure_attributes {
    availability    = "ON_DEMAND_AZURE"
    first_on_demand = 1
  }

  spark_conf = {
    "spark.sql.adaptive.enabled"        = "true"
    "spark.databricks.io.cache.enabled" = "true"
  }

  spark_env_vars = {
    STORAGE_ROOT     = "${var.storage_root}"
    TANDEM_WORKSPACE = "${workspace.name}"
  }

  custom_tags = {
    team    = "${var.team}"
    purpose = "equivalence"
  }

  init_script {
    workspace {
      destination = "/Workspace/Shared/${var.team}/init/eq-setup.sh"
    }
  }

  start_on_promote = true
  placement        = "both"

  passive {
    state = "terminated"
  }

  permission {
    group_name = "data-eng"
    level      = "CAN_RESTART"
  }
}
