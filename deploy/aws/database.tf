# RDS PostgreSQL, Single-AZ, in the private subnets, reachable only from the
# app security group. RDS generates the master password and keeps it in
# Secrets Manager (manage_master_user_password): it is never in this code,
# in variables or in the Terraform state, and RDS rotates it (every 7 days
# by default; the instance picks up the new one, see user-data.sh.tftpl).

resource "aws_db_subnet_group" "main" {
  name        = "${var.name}-db"
  description = "ToggleMaster RDS: the two private subnets"
  subnet_ids  = aws_subnet.private[*].id

  tags = { Name = "${var.name}-db" }
}

# Refuse unencrypted connections (PostgreSQL 15 on RDS defaults to
# rds.force_ssl = 0; 16 and later default to 1).
resource "aws_db_parameter_group" "main" {
  name_prefix = "${var.name}-pg${var.db_engine_version}-"
  family      = "postgres${var.db_engine_version}"
  description = "ToggleMaster: TLS required"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_db_instance" "main" {
  identifier     = "${var.name}-db"
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class

  db_name                     = var.db_name
  username                    = var.db_username
  manage_master_user_password = true
  port                        = 5432

  allocated_storage = var.db_allocated_storage
  storage_type      = "gp3"
  storage_encrypted = true # AWS-managed key aws/rds

  # Single-AZ in single mode (the MVP trade-off, docs/architecture.md);
  # Multi-AZ in ha: a synchronous standby in the other AZ that RDS promotes
  # on failure (the DNS name moves; the service reconnects, /ready says 503
  # meanwhile). var.db_multi_az overrides either.
  multi_az               = var.db_multi_az == null ? var.mode == "ha" : var.db_multi_az
  publicly_accessible    = false
  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  parameter_group_name   = aws_db_parameter_group.main.name

  backup_retention_period = var.backup_retention_days
  backup_window           = "05:00-06:00"         # UTC: 02:00-03:00 in Sao Paulo
  maintenance_window      = "sun:06:30-sun:07:30" # UTC, after the backup
  copy_tags_to_snapshot   = true

  auto_minor_version_upgrade = true
  apply_immediately          = false

  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = var.skip_final_snapshot
  final_snapshot_identifier = "${var.name}-db-final"
  delete_automated_backups  = true

  # Off: Performance Insights and Enhanced Monitoring are not needed for the
  # MVP (and Enhanced Monitoring would need an IAM role and CloudWatch Logs).
  performance_insights_enabled = false
  monitoring_interval          = 0
}
