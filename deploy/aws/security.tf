# Security groups, one rule per resource (aws_vpc_security_group_*_rule, the
# AWS provider 5.x recommendation: each rule is tracked on its own and one
# rule never rewrites another).
#
#   app SG  in : 80/tcp and 443/tcp from anywhere (IPv4; the VPC has no IPv6);
#                the service listens on one of them: 80, or 443 with
#                tls_secret_arn set
#                22/tcp from var.admin_cidr only
#           out: everything (see below)
#   db SG   in : 5432/tcp from the app SG only (by group id, never by CIDR)
#           out: nothing (security groups are stateful: replies pass anyway)
#
# mode = "ha" (ha.tf adds the ALB's group; the three public rules below are
# counted out):
#   alb SG  in : 443/tcp and 80/tcp (redirect) from anywhere
#           out: app_port_ha/tcp to the app SG only
#   app SG  in : app_port_ha/tcp from the ALB SG only; no SSH rule at all
#           out: everything (through the NAT gateway: apt, Secrets Manager,
#                SSM Session Manager, the .deb; RDS inside the VPC)
#   db SG   unchanged

resource "aws_security_group" "app" {
  name_prefix = "${var.name}-app-"
  description = local.ha ? "ToggleMaster instances: the service port from the ALB only" : "ToggleMaster instance: HTTP/HTTPS from anywhere, SSH from the admin CIDR"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name}-app" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "app_http" {
  count = local.single ? 1 : 0

  security_group_id = aws_security_group.app.id
  description       = "HTTP: the service listens on 80"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

# Open as the architecture requires. With tls_secret_arn set the service
# itself serves HTTPS here and nothing listens on 80; without it, nothing
# listens on 443. Either way the unused port refuses connections instead of
# letting them hang, and both rules stay, so switching is one variable.
resource "aws_vpc_security_group_ingress_rule" "app_https" {
  count = local.single ? 1 : 0

  security_group_id = aws_security_group.app.id
  description       = "HTTPS: reserved for TLS termination"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# single only: in ha nobody reaches the instances but the ALB (Session
# Manager replaces SSH and needs no inbound port).
resource "aws_vpc_security_group_ingress_rule" "app_ssh" {
  count = local.single ? 1 : 0

  security_group_id = aws_security_group.app.id
  description       = "SSH from the administrator only"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = var.admin_cidr
}

# All outbound traffic. The instance needs: apt mirrors (80/443), the .deb
# URL and Amazon's RDS CA bundle (443), Secrets Manager's public endpoint
# (443, over the internet gateway: an interface VPC endpoint would add an
# hourly fee per AZ, $0.01/h in us-east-1), PostgreSQL on RDS (5432) and NTP
# if the image uses public servers. With 443 open to everywhere anyway, a
# tighter list would add breakage risk without stopping exfiltration; the
# boundary that matters is the DB SG, which admits only this group.
resource "aws_vpc_security_group_egress_rule" "app_all" {
  security_group_id = aws_security_group.app.id
  description       = "All outbound (apt, Secrets Manager, RDS)"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_security_group" "db" {
  name_prefix = "${var.name}-db-"
  description = "ToggleMaster RDS: PostgreSQL from the app security group only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name}-db" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the app instances"
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  referenced_security_group_id = aws_security_group.app.id
}
