# Equivalence pair: the HCL twin of instance_pool.yaml.

instance_pool "eq_pool" {
  instance_pool_name                    = "eq-pool"
  node_type_id                          = "Standard_DS3_v2"
  min_idle_instances                    = 1
  max_capacity                          = 8
  idle_instance_autotermination_minutes = 20
  preloaded_spark_versions              = ["15.4.x-scala2.12"]
  enable_elastic_disk                   = true

  azure_attributes {
    availability       = "SPOT_AZURE"
    spot_bid_max_price = -1
  }

  custom_tags = {
    team    = "${var.team}"
    purpose = "equivalence"
  }

  passive {
    min_idle_instances = 0
  }

  permission {
    group_name = "data-eng"
    level      = "CAN_ATTACH_TO"
  }
}
