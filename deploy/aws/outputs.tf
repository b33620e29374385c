locals {
  # https:// on 443 with tls_secret_arn set, http:// on 80 without; the host
  # is public_hostname (a name on the certificate) when set.
  # In ha: always https://, the ALB's DNS name unless public_hostname is set
  # (a CNAME or alias record to it that the certificate covers).
  app_url = var.mode == "ha" ? "https://${var.public_hostname == "" ? aws_lb.app[0].dns_name : var.public_hostname}" : "${var.tls_secret_arn == "" ? "http" : "https"}://${var.public_hostname == "" ? aws_instance.app[0].public_dns : var.public_hostname}"
}

output "app_url" {
  description = "Public URL of the service: http:// on port 80, or https:// on 443 with tls_secret_arn set (nothing listens on 80 then). The host is public_hostname when set, else the instance's EC2 public DNS name."
  value       = local.app_url
}

output "public_ip" {
  description = "single: the instance's public IPv4 address (changes on stop/start; see compute.tf). ha: null (the instances have none)."
  value       = one(aws_instance.app[*].public_ip)
}

output "ssh_command" {
  description = "SSH into the instance (Debian's default user is admin); works only from admin_cidr and with the key pair's private key."
  value       = var.mode == "ha" ? "no SSH in ha: see session_command" : "ssh admin@${aws_instance.app[0].public_dns}"
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
  description = "single: EC2 instance id (for the console, and `aws ec2 get-console-output`). ha: null (the Auto Scaling group owns the instances)."
  value       = one(aws_instance.app[*].id)
}

output "alb_dns_name" {
  description = "ha: the ALB's DNS name (point public_hostname's CNAME or alias record here). single: null."
  value       = one(aws_lb.app[*].dns_name)
}

output "target_group_arn" {
  description = "ha: the target group's ARN (aws elbv2 describe-target-health). single: null."
  value       = one(aws_lb_target_group.app[*].arn)
}

output "asg_name" {
  description = "ha: the Auto Scaling group's name (instance refresh, list instances). single: null."
  value       = one(aws_autoscaling_group.app[*].name)
}

output "session_command" {
  description = "ha: list the group's instances, then open a shell on one with SSM Session Manager (needs the Session Manager plugin for the AWS CLI). single: null."
  value       = var.mode == "ha" ? "aws autoscaling describe-auto-scaling-groups --region ${var.region} --auto-scaling-group-names ${aws_autoscaling_group.app[0].name} --query 'AutoScalingGroups[0].Instances[].InstanceId' --output text; aws ssm start-session --region ${var.region} --target INSTANCE_ID" : null
}
