# case: a literal secret value in an HCL secret block (must be masked in the output)
secret_scope "reporting" {
  name = "reporting"

  secret "smtp_password" {
    value = "hcl-L1teral-Smtp-Pa55"
  }
}
