# case: several problems across two files, all reported, ordered by file then line
cluster "shared" {
  cluster_name  = "shared"
  spark_version = "15.4.x-scala2.12"
  node_type_id  = "Standard_DS3_v2"
  num_workers   = 2
  autoscale {
    min_workers = 2
    max_workers = 8
  }
  permission {
    group_name = "data-eng"
    level      = "CAN_VIEW"
  }
}
