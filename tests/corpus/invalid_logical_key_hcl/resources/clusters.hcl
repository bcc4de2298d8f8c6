# case: HCL block label not a valid logical key (shared-analytics)
cluster "shared-analytics" {
  cluster_name  = "shared-analytics"
  spark_version = "15.4.x-scala2.12"
  node_type_id  = "Standard_DS3_v2"
  num_workers   = 2
}
