cluster "shared" {
  cluster_name  = "shared"
  spark_version = "15.4.x-scala2.12"
  node_type_id  = "Standard_DS3_v2"
  num_workers   = 2
}
