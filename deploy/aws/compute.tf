# The EC2 instance: Debian 12 (the package is built for bookworm), in the
# first public subnet, with an auto-assigned public IPv4 address.
#
# Public address: auto-assigned rather than an Elastic IP. Both are billed
# the same $0.005/hour since February 2024; an EIP would survive stop/start
# and replacement, but attaching it after boot swaps the address while
# cloud-init is downloading. The app_url output follows the current address;
# a stable name is the ALB's job in the scale-out path.

data "aws_ami" "debian12" {
  most_recent = true
  owners      = ["136693071363"] # Debian (the Debian Cloud Team's AWS account)

  filter {
    name   = "name"
    values = ["debian-12-amd64-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }

  filter {
    name   = "root-device-type"
    values = ["ebs"]
  }
}

resource "aws_key_pair" "admin" {
  # No key pair in ha: nothing there accepts SSH (Session Manager instead).
  count = var.ssh_public_key == "" || local.ha ? 0 : 1

  key_name_prefix = "${var.name}-admin-"
  public_key      = var.ssh_public_key
}

locals {
  # The two shapes (var.mode): every resource of one shape only is counted
  # on these, so the default plan (single) is today's stack, resource for
  # resource.
  ha     = var.mode == "ha"
  single = !local.ha

  key_name = var.ssh_public_key == "" || local.ha ? var.key_name : aws_key_pair.admin[0].key_name

  # Everything user-data.sh.tftpl interpolates (tests/infra checks that the
  # template uses exactly these names). No secret here, only where secrets
  # are: the instance fetches the database password and the admin API token
  # itself (generating the token at first boot, secrets.tf), at boot and
  # every 10 minutes, and with tls_secret_arn set the TLS certificate and key
  # too (HTTPS on 443; plain HTTP on 80 otherwise).
  user_data_vars = {
    region           = var.region
    db_secret_arn    = aws_db_instance.main.master_user_secret[0].secret_arn
    admin_secret_arn = aws_secretsmanager_secret.admin_token.arn
    db_host          = aws_db_instance.main.address
    db_port          = aws_db_instance.main.port
    db_name          = var.db_name
    db_sslmode       = var.db_sslmode
    # In ha the ALB terminates TLS and forwards plain HTTP to app_port_ha
    # (inside the VPC, from the ALB's security group only): the instance
    # serves no TLS of its own there, so tls_secret_arn does not apply.
    # Written with var.mode, not local.ha: tests/infra evaluates these.
    app_port         = var.mode == "ha" ? var.app_port_ha : (var.tls_secret_arn == "" ? 80 : 443)
    tls_secret_arn   = var.mode == "ha" ? "" : var.tls_secret_arn
    # ha only, and empty in single so that the single instance's user data
    # stays byte for byte what it was (user_data_replace_on_change would
    # otherwise replace a running instance on upgrade). Behind the ALB:
    # lb_env (more deploy.env lines): no per-address connection cap (every
    # connection comes from the ALB's few addresses; 0 = off), and a drain
    # that outlasts the health check's interval x unhealthy threshold so
    # /ready 503 takes the instance out of rotation before it stops
    # accepting (ha.tf); lb_setup (commands after the settings): the SSM
    # agent for Session Manager, which Debian's image lacks (AWS publishes
    # the .deb on S3).
    lb_env   = var.mode == "ha" ? "MAX_CLIENT_CONNECTIONS=0\nSHUTDOWN_DRAIN=${var.shutdown_drain}\nSHUTDOWN_TIMEOUT=${var.shutdown_timeout}\n" : ""
    lb_setup = var.mode == "ha" ? "log \"ha: SSM agent (Session Manager; no SSH)\"\nretry 5 curl -fsSL --proto '=https' -o /tmp/amazon-ssm-agent.deb https://s3.amazonaws.com/ec2-downloads-windows/SSMAgent/latest/debian_amd64/amazon-ssm-agent.deb\napt-get install -y -q /tmp/amazon-ssm-agent.deb\nrm -f /tmp/amazon-ssm-agent.deb\nsystemctl enable --now amazon-ssm-agent\n\n" : ""
    log_level        = var.log_level
    deb_url          = var.deb_url
    deb_sha256       = var.deb_sha256
    fetch_secret     = file("${path.module}/files/togglemaster-fetch-secret")
  }
}

# single only; in ha the Auto Scaling group launches the instances from
# aws_launch_template.app (ha.tf) with the same user data.
resource "aws_instance" "app" {
  count = local.single ? 1 : 0

  ami                         = data.aws_ami.debian12.id
  instance_type               = var.instance_type
  subnet_id                   = aws_subnet.public[0].id
  vpc_security_group_ids      = [aws_security_group.app.id]
  associate_public_ip_address = true
  iam_instance_profile        = aws_iam_instance_profile.app.name
  key_name                    = local.key_name

  # Gzipped: the rendered script (the fetch script is embedded) is above
  # EC2's 16 KB user data limit, compressed it is under half of it;
  # cloud-init decompresses it (the script lands in
  # /var/lib/cloud/instance/scripts/part-001).
  user_data_base64            = base64gzip(templatefile("${path.module}/user-data.sh.tftpl", local.user_data_vars))
  user_data_replace_on_change = true

  credit_specification {
    cpu_credits = var.cpu_credits
  }

  # IMDSv2 only (session tokens), one hop: a process in a container on the
  # host could not reach the credentials through an extra network hop.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    encrypted             = true
    delete_on_termination = true
  }

  # The policy is not referenced above, but the first boot reads the secrets:
  # without this, the instance could boot before the policy exists.
  depends_on = [aws_iam_role_policy.instance_secrets]

  tags        = { Name = "${var.name}-app" }
  volume_tags = { Name = "${var.name}-app-root", Project = var.name }

  lifecycle {
    # A newer Debian AMI must not replace a running instance on the next
    # plan; roll it deliberately with `terraform apply -replace='aws_instance.app[0]'`.
    ignore_changes = [ami]
  }
}
