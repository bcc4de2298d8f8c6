# case: a Terraform-style resource block (resource "databricks_job" "x")
resource "databricks_job" "nightly_etl" {
  name                = "Nightly ETL"
  max_concurrent_runs = 1
}
