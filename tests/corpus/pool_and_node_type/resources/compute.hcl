# case: a cluster with both instance_pool_id and node_type_id
instance_pool "workers" {
  instance_pool_name = "workers"
  node_type_id       = "Standard_DS3_v2"
  max_capacity       = 10
}

cluster "etl" {
  cluster_name     = "etl"
  spark_version    = "15.4.x-scala2.12"
  instance_pool_id = resources.instance_pools.workers.id
  node_type_id     = "Standard_DS3_v2"
  num_workers      = 2
}
