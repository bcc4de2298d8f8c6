# case: permission level not valid for an instance pool (CAN_RESTART is a cluster level)
instance_pool "workers" {
  instance_pool_name = "workers"
  node_type_id       = "Standard_DS3_v2"
  max_capacity       = 10

  permission {
    group_name = "data-eng"
    level      = "CAN_RESTART"
  }
}
