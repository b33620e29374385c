# mode = "ha": everything here has count = 0 in the default single mode.
#
#   internet -> ALB (public subnets, 443; 80 only redirects to 443)
#            -> target group (HTTP on app_port_ha, health check /ready)
#            -> Auto Scaling group of instances (private subnets, both AZs,
#               no public address, no SSH: SSM Session Manager)
#            -> RDS Multi-AZ (database.tf)
#   private instances -> NAT gateway -> internet (apt, the .deb, Secrets
#   Manager, SSM, the RDS CA bundle)
#
# Draining, in order, when the group terminates an instance (scale-in or
# instance refresh): the group deregisters it from the target group, the
# ALB stops sending it new requests and waits deregistration_delay for the
# open ones; only then is the instance shut down (systemd: SIGTERM, /ready
# 503 for SHUTDOWN_DRAIN s while serving, then up to SHUTDOWN_TIMEOUT s for
# in-flight requests, TimeoutStopSec=30). deregistration_delay >=
# SHUTDOWN_DRAIN + SHUTDOWN_TIMEOUT covers the longest a request can still
# be running on the instance. When the service stops for another reason
# (apt upgrade, systemctl restart, a stop from the console) nothing
# deregisters it first: then the /ready 503 during SHUTDOWN_DRAIN is what
# takes it out of rotation, which needs interval x unhealthy_threshold <=
# SHUTDOWN_DRAIN (checked below as a precondition).

locals {
  # Seconds the ALB keeps a deregistering target's open requests: the
  # service's whole shutdown plus 5 s of slack for the last response to
  # cross the ALB.
  deregistration_delay = var.shutdown_drain + var.shutdown_timeout + 5

  # The ALB's name is limited to 32 characters.
  lb_name = substr(var.name, 0, 28)
}

# --- outbound access for the private instances ------------------------------
#
# One NAT gateway (in the first public subnet), not VPC endpoints: apt's
# Debian mirrors, the .deb (a GitHub release) and the RDS CA bundle are on
# the internet, which no endpoint reaches; endpoints for Secrets Manager and
# the three SSM services would cost more than the NAT gateway (4 interface
# endpoints x 2 AZs, billed by the hour) and still leave apt without a path.
# One gateway, not one per AZ: if its AZ fails, the instances in the other
# AZ keep serving (inbound comes through the ALB, the database is in the
# VPC) and only lose outbound (secret refresh retries; no apt). The price is
# in docs/aws-cost.md.

resource "aws_eip" "nat" {
  count = local.ha ? 1 : 0

  domain = "vpc"
  tags   = { Name = "${var.name}-nat" }
}

resource "aws_nat_gateway" "main" {
  count = local.ha ? 1 : 0

  allocation_id = aws_eip.nat[0].id
  subnet_id     = aws_subnet.public[0].id
  tags          = { Name = "${var.name}-nat" }

  depends_on = [aws_internet_gateway.main]
}

# The private subnets' route table in ha (network.tf switches the
# association): the VPC-local route plus 0.0.0.0/0 to the NAT gateway. The
# single mode's aws_route_table.private stays route-free.
resource "aws_route_table" "private_nat" {
  count = local.ha ? 1 : 0

  vpc_id = aws_vpc.main.id

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.main[0].id
  }

  tags = { Name = "${var.name}-private-nat" }
}

# --- security groups ------------------------------------------------------------

resource "aws_security_group" "alb" {
  count = local.ha ? 1 : 0

  name_prefix = "${var.name}-alb-"
  description = "ToggleMaster ALB: HTTPS (and HTTP to redirect) from anywhere"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name}-alb" }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  count = local.ha ? 1 : 0

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTPS from anywhere"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  count = local.ha ? 1 : 0

  security_group_id = aws_security_group.alb[0].id
  description       = "HTTP from anywhere: answered only with a redirect to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = "0.0.0.0/0"
}

# The ALB opens connections to the targets (requests and health checks)
# and to nothing else.
resource "aws_vpc_security_group_egress_rule" "alb_to_app" {
  count = local.ha ? 1 : 0

  security_group_id            = aws_security_group.alb[0].id
  description                  = "To the app instances' service port (requests, health checks)"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port_ha
  to_port                      = var.app_port_ha
  referenced_security_group_id = aws_security_group.app.id
}

resource "aws_vpc_security_group_ingress_rule" "app_from_alb" {
  count = local.ha ? 1 : 0

  security_group_id            = aws_security_group.app.id
  description                  = "The service port from the ALB only"
  ip_protocol                  = "tcp"
  from_port                    = var.app_port_ha
  to_port                      = var.app_port_ha
  referenced_security_group_id = aws_security_group.alb[0].id
}

# --- load balancer --------------------------------------------------------------

resource "aws_lb" "app" {
  count = local.ha ? 1 : 0

  name               = "${local.lb_name}-alb"
  load_balancer_type = "application"
  internal           = false
  subnets            = aws_subnet.public[*].id
  security_groups    = [aws_security_group.alb[0].id]

  # Malformed headers are dropped rather than passed to the service.
  drop_invalid_header_fields = true
  # Below the service's KEEPALIVE_TIMEOUT (75 s): the ALB closes idle
  # connections first, so it never sends a request on one the service has
  # just closed (which the client would see as a 502).
  idle_timeout = 60

  tags = { Name = "${var.name}-alb" }
}

resource "aws_lb_target_group" "app" {
  count = local.ha ? 1 : 0

  # name_prefix (6 characters at most), not name: with create_before_destroy
  # a replacement (a new port) must not collide with the old group's name
  # while the listener still uses it.
  name_prefix          = "tm-"
  port                 = var.app_port_ha
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = aws_vpc.main.id
  deregistration_delay = local.deregistration_delay

  # /ready, not /health: readiness is 503 while the database is unreachable
  # or the service is draining, and then the ALB should route elsewhere;
  # /health (liveness) stays 200 in both cases.
  health_check {
    path                = "/ready"
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = var.health_check_interval
    timeout             = min(var.health_check_interval - 1, 10) # below the interval, as the ALB requires
    healthy_threshold   = 2
    unhealthy_threshold = var.health_check_unhealthy_threshold
  }

  tags = { Name = "${var.name}-app" }

  lifecycle {
    create_before_destroy = true

    # Variables cannot refer to each other in validation (Terraform 1.5);
    # the rule that ties them is checked here, at plan time.
    precondition {
      condition     = var.health_check_interval * var.health_check_unhealthy_threshold <= var.shutdown_drain
      error_message = "health_check_interval x health_check_unhealthy_threshold must not exceed shutdown_drain: the ALB must see /ready 503 before the service stops accepting."
    }
  }
}

resource "aws_lb_listener" "https" {
  count = local.ha ? 1 : 0

  load_balancer_arn = aws_lb.app[0].arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.alb_ssl_policy
  certificate_arn   = var.alb_certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.app[0].arn
  }

  lifecycle {
    precondition {
      condition     = var.alb_certificate_arn != ""
      error_message = "mode = \"ha\" needs alb_certificate_arn: the ALB serves HTTPS only."
    }
  }
}

resource "aws_lb_listener" "http_redirect" {
  count = local.ha ? 1 : 0

  load_balancer_arn = aws_lb.app[0].arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

# --- instances --------------------------------------------------------------------

resource "aws_launch_template" "app" {
  count = local.ha ? 1 : 0

  name_prefix            = "${var.name}-app-"
  description            = "ToggleMaster instance (mode = ha): private, no key pair, same user data as the single instance"
  image_id               = data.aws_ami.debian12.id
  instance_type          = var.instance_type
  vpc_security_group_ids = [aws_security_group.app.id]
  update_default_version = true

  # Gzipped as in compute.tf (EC2's 16 KB user data limit).
  user_data = base64gzip(templatefile("${path.module}/user-data.sh.tftpl", local.user_data_vars))

  iam_instance_profile {
    name = aws_iam_instance_profile.app.name
  }

  credit_specification {
    cpu_credits = var.cpu_credits
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = data.aws_ami.debian12.root_device_name

    ebs {
      volume_type           = "gp3"
      volume_size           = var.root_volume_size
      encrypted             = true
      delete_on_termination = true
    }
  }

  tag_specifications {
    resource_type = "instance"
    tags          = { Name = "${var.name}-app", Project = var.name }
  }

  tag_specifications {
    resource_type = "volume"
    tags          = { Name = "${var.name}-app-root", Project = var.name }
  }
}

resource "aws_autoscaling_group" "app" {
  count = local.ha ? 1 : 0

  name_prefix         = "${var.name}-app-"
  vpc_zone_identifier = aws_subnet.private[*].id
  min_size            = var.asg_min_size
  max_size            = var.asg_max_size
  desired_capacity    = var.asg_desired_capacity

  target_group_arns = [aws_lb_target_group.app[0].arn]
  # Replace an instance the ALB finds unready for good, not only one EC2
  # finds dead; the grace period covers the first boot (apt, the .deb).
  health_check_type         = "ELB"
  health_check_grace_period = 300

  launch_template {
    id      = aws_launch_template.app[0].id
    version = aws_launch_template.app[0].latest_version
  }

  # A new launch template version (a new deb_url, AMI or user data) rolls
  # the group: one instance at a time at 50% with the default two, each
  # drained through the target group's deregistration delay before it is
  # terminated, each replacement warmed up before the next is touched.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 50
      instance_warmup        = 120
    }
  }

  tag {
    key                 = "Name"
    value               = "${var.name}-app"
    propagate_at_launch = true
  }

  # The first boot reads the secrets and installs from the internet.
  depends_on = [aws_iam_role_policy.instance_secrets, aws_iam_role_policy.session_manager, aws_route_table_association.private]

  lifecycle {
    precondition {
      condition     = var.asg_min_size <= var.asg_desired_capacity && var.asg_desired_capacity <= var.asg_max_size
      error_message = "asg_min_size <= asg_desired_capacity <= asg_max_size must hold."
    }
  }
}

# --- Session Manager instead of SSH ----------------------------------------------
#
# What the SSM agent (Debian's AMI has none: the user data installs it when
# behind_lb) needs for Session Manager and nothing more:
# register the instance and open the session channels. These actions take
# no resource ARN (AWS's "minimum instance permissions for Session
# Manager"), hence "*"; no Run Command, no Parameter Store, no S3 or KMS
# (session logging is off).
data "aws_iam_policy_document" "session_manager" {
  count = local.ha ? 1 : 0

  statement {
    sid       = "SessionManagerChannels"
    effect    = "Allow"
    actions   = ["ssm:UpdateInstanceInformation", "ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "session_manager" {
  count = local.ha ? 1 : 0

  name   = "togglemaster-session-manager"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.session_manager[0].json
}
