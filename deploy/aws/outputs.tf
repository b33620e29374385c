locals {
  # https:// on 443 with tls_secret_arn set, http:// on 80 without; the host
  # is public_hostname (a name on the certificate) when set.
  app_url = "${var.tls_secret_arn == "" ? "http" : "https"}://${var.public_hostname == "" ? aws_instance.app.public_dns : var.public_hostname}"
}

output "app_url" {
  description = "Public URL of the service: http:// on port 80, or https:// on 443 with tls_secret_arn set (nothing listens on 80 then). The host is public_hostname when set, else the instance's EC2 public DNS name."
  value       = local.app_url
}

output "public_ip" {
  description = "The instance's public IPv4 address (changes on stop/start; see compute.tf)."
  value       = aws_instance.app.public_ip
}

output "ssh_command" {
  description = "SSH into the instance (Debian's default user is admin); works only from admin_cidr and with the key pair's private key."
  value       = "ssh admin@${aws_instance.app.public_dns}"
}

output "smoke_test_command" {
  description = "Validate the public deployment from your machine (docs/deploy-aws.md, Validate public access), with TOGGLEMASTER_TOKEN set to the admin token (admin_token_command) or an editor key: authentication is on."
  value       = "scripts/smoke-test.sh ${local.app_url}"
}

output "admin_token_secret_arn" {
  description = "ARN of the Secrets Manager secret holding ADMIN_TOKEN, the service's admin API key. The instance generates the value at first boot (until then the secret has none); Terraform never sees it."
  value       = aws_secretsmanager_secret.admin_token.arn
}

output "admin_token_command" {
  description = "Print the admin token from your machine (needs secretsmanager:GetSecretValue on the secret); use it to create client and editor keys (docs/deploy-aws.md, API keys)."
  value       = "aws secretsmanager get-secret-value --region ${var.region} --secret-id ${aws_secretsmanager_secret.admin_token.arn} --query SecretString --output text"
}

output "rds_endpoint" {
  description = "RDS PostgreSQL host:port (private: resolvable and reachable only from inside the VPC)."
  value       = "${aws_db_instance.main.address}:${aws_db_instance.main.port}"
}

output "rds_address" {
  description = "RDS PostgreSQL host name."
  value       = aws_db_instance.main.address
}

output "db_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the master user name and password (managed and rotated by RDS)."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "instance_id" {
  description = "EC2 instance id (for the console, and `aws ec2 get-console-output`)."
  value       = aws_instance.app.id
}
