# case: a literal secret value in an HCL secrets map attribute (must be masked)
secret_scope "reporting" {
  name = "reporting"
  secrets = {
    smtp_password = "hclMap-L1teral-Pa55"
  }
}
