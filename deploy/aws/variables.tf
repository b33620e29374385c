# Inputs. Only admin_cidr has no default: SSH must be opened to somebody on
# purpose. The validations use a small set of functions (can, try, regex,
# contains, length, split, tonumber, cidrnetmask, cidrhost) that
# tests/infra/policy.js evaluates offline, so each rule below is exercised
# with good and bad values in every `make test`.

variable "region" {
  description = "AWS region. The original deployment used sa-east-1 (Sao Paulo) for latency to Brazilian users; us-east-1 is about 40% cheaper (see docs/aws-cost.md)."
  type        = string
  default     = "sa-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as sa-east-1 or us-east-1."
  }
}

variable "name" {
  description = "Name prefix for every resource and the Project tag."
  type        = string
  default     = "togglemaster"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of a-z, 0-9 and '-', starting with a letter (RDS identifiers and IAM names derive from it)."
  }
}

variable "environment" {
  description = "Environment tag (mvp, staging, production...)."
  type        = string
  default     = "mvp"

  validation {
    condition     = can(regex("^[a-z0-9-]{1,32}$", var.environment))
    error_message = "environment must be 1-32 characters of a-z, 0-9 and '-'."
  }
}

# --- network -----------------------------------------------------------------

variable "vpc_cidr" {
  description = "VPC address range."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && try(tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    error_message = "vpc_cidr must be an IPv4 CIDR of /24 or larger."
  }
}

variable "public_subnet_cidrs" {
  description = "The two public subnets (EC2), one per availability zone. Must lie inside vpc_cidr."
  type        = list(string)
  default     = ["10.0.0.0/24", "10.0.1.0/24"]

  validation {
    condition     = length(var.public_subnet_cidrs) == 2 && can(cidrnetmask(var.public_subnet_cidrs[0])) && can(cidrnetmask(var.public_subnet_cidrs[1]))
    error_message = "public_subnet_cidrs must be exactly two IPv4 CIDRs (one per AZ)."
  }
}

variable "private_subnet_cidrs" {
  description = "The two private subnets (RDS), one per availability zone; an RDS subnet group needs two AZs even for a Single-AZ instance. Must lie inside vpc_cidr."
  type        = list(string)
  default     = ["10.0.10.0/24", "10.0.11.0/24"]

  validation {
    condition     = length(var.private_subnet_cidrs) == 2 && can(cidrnetmask(var.private_subnet_cidrs[0])) && can(cidrnetmask(var.private_subnet_cidrs[1]))
    error_message = "private_subnet_cidrs must be exactly two IPv4 CIDRs (one per AZ)."
  }
}

variable "admin_cidr" {
  description = "The only source allowed to reach SSH (port 22): your public address as /32, e.g. \"$(curl -s https://checkip.amazonaws.com)/32\". A /24 at most; never 0.0.0.0/0."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.admin_cidr))
    error_message = "admin_cidr must be an IPv4 CIDR such as 203.0.113.7/32."
  }

  validation {
    condition     = try(tonumber(split("/", var.admin_cidr)[1]) >= 24, false)
    error_message = "admin_cidr must be a /24 or narrower (a /32 is best): SSH is for one administrator's address, never 0.0.0.0/0."
  }

  validation {
    condition     = try(cidrhost(var.admin_cidr, 0) == split("/", var.admin_cidr)[0], false)
    error_message = "admin_cidr must be written with its network address (203.0.113.7/32 or 198.51.100.0/24, not 198.51.100.7/24)."
  }
}

# --- EC2 -----------------------------------------------------------------------

variable "instance_type" {
  description = "EC2 instance type for the service (the original's choice: t3.micro, 2 vCPU burstable, 1 GiB)."
  type        = string
  default     = "t3.micro"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like t3.micro."
  }
}

variable "cpu_credits" {
  description = "Burstable CPU credit mode. \"standard\" caps the bill at the instance price (CPU is throttled to the baseline when credits run out); \"unlimited\" (AWS's default for t3) never throttles but bills surplus credits."
  type        = string
  default     = "standard"

  validation {
    condition     = contains(["standard", "unlimited"], var.cpu_credits)
    error_message = "cpu_credits must be \"standard\" or \"unlimited\"."
  }
}

variable "root_volume_size" {
  description = "Root volume size in GiB (gp3, encrypted)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 100
    error_message = "root_volume_size must be between 8 and 100 GiB."
  }
}

variable "ssh_public_key" {
  description = "OpenSSH public key to install for the \"admin\" user (creates an EC2 key pair). Leave empty to use key_name, or neither for no SSH key at all."
  type        = string
  default     = ""

  validation {
    condition     = var.ssh_public_key == "" || can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521) [A-Za-z0-9+/=]+( .*)?$", var.ssh_public_key))
    error_message = "ssh_public_key must be one OpenSSH public key line (ssh-ed25519 AAAA... comment)."
  }
}

variable "key_name" {
  description = "Name of an existing EC2 key pair in the region, used when ssh_public_key is empty."
  type        = string
  default     = null
}

variable "deb_url" {
  description = "HTTPS URL of togglemaster_<version>_amd64.deb (built by `make deb`), e.g. a GitHub release asset or an S3 presigned URL. Empty: the instance is prepared (env file, units) and the package is installed by hand (docs/deploy-aws.md, Install)."
  type        = string
  default     = ""

  validation {
    condition     = var.deb_url == "" || can(regex("^https://[^\\s'\"`$\\\\]+$", var.deb_url))
    error_message = "deb_url must be empty or an https:// URL without quotes, spaces, backslashes, backticks or '$'."
  }
}

variable "deb_sha256" {
  description = "Expected SHA-256 of the .deb (sha256sum output, lowercase hex). Empty skips the check; set it whenever deb_url is set."
  type        = string
  default     = ""

  validation {
    condition     = var.deb_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.deb_sha256))
    error_message = "deb_sha256 must be empty or 64 lowercase hex digits."
  }
}

variable "log_level" {
  description = "LOG_LEVEL for the service."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

# --- HTTPS ---------------------------------------------------------------------

variable "tls_secret_arn" {
  description = "Full ARN of a Secrets Manager secret holding the service's TLS certificate and key, the JSON object {\"certificate\": \"<PEM chain>\", \"private_key\": \"<PEM key>\"} (docs/deploy-aws.md, HTTPS on 443). Set: the service serves HTTPS on 443 and nothing listens on 80, and the instance may read this one secret too. Empty: plain HTTP on 80."
  type        = string
  default     = ""

  validation {
    condition     = var.tls_secret_arn == "" || can(regex("^arn:aws(-cn|-us-gov)?:secretsmanager:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:secret:[A-Za-z0-9/_+=.@!-]+-[A-Za-z0-9]{6}$", var.tls_secret_arn))
    error_message = "tls_secret_arn must be empty or a secret's full ARN, as create-secret prints it: arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-XXXXXX (no wildcard)."
  }
}

variable "public_hostname" {
  description = "DNS name clients use for the service: an A record pointing at the public_ip output that you manage, and with tls_secret_arn a name the certificate covers. Used only in the app_url and smoke_test_command outputs. Empty: the instance's EC2 public DNS name."
  type        = string
  default     = ""

  validation {
    condition     = var.public_hostname == "" || (length(var.public_hostname) <= 253 && can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.public_hostname)))
    error_message = "public_hostname must be empty or a lowercase DNS name such as flags.example.com."
  }
}

# --- API keys ------------------------------------------------------------------

variable "admin_token_recovery_days" {
  description = "Days a destroyed admin token secret (secrets.tf) can still be restored before Secrets Manager deletes it: 7 to 30, or 0 to delete it at once on destroy. The name carries a random suffix, so a new apply never waits for an old one."
  type        = number
  default     = 7

  validation {
    condition     = var.admin_token_recovery_days == 0 || (var.admin_token_recovery_days >= 7 && var.admin_token_recovery_days <= 30)
    error_message = "admin_token_recovery_days must be 0 (delete at once) or between 7 and 30 (Secrets Manager's limits)."
  }
}

# --- RDS -----------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class (the original's choice: db.t4g.micro, Graviton, 2 vCPU burstable, 1 GiB)."
  type        = string
  default     = "db.t4g.micro"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must look like db.t4g.micro."
  }
}

variable "db_engine_version" {
  description = "PostgreSQL major version. RDS picks the newest minor and applies minor upgrades in the maintenance window."
  type        = string
  default     = "15"

  validation {
    condition     = can(regex("^1[5-9]$", var.db_engine_version))
    error_message = "db_engine_version must be a PostgreSQL major version, 15 or later (the parameter group family follows it)."
  }
}

variable "db_allocated_storage" {
  description = "RDS storage in GiB (gp3; 20 is the gp3 minimum for PostgreSQL)."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage >= 20 && var.db_allocated_storage <= 1000
    error_message = "db_allocated_storage must be between 20 and 1000 GiB."
  }
}

variable "db_name" {
  description = "Database created on the RDS instance."
  type        = string
  default     = "togglemaster"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_name))
    error_message = "db_name must start with a letter and use a-z, 0-9 and '_' (at most 63 characters)."
  }
}

variable "db_username" {
  description = "Master user name. Its password is generated and stored by RDS in Secrets Manager (manage_master_user_password); it never appears in Terraform code, variables or state."
  type        = string
  default     = "togglemaster"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{0,62}$", var.db_username)) && !contains(["postgres", "admin", "rdsadmin", "root"], var.db_username)
    error_message = "db_username must start with a letter, use a-z, 0-9 and '_', and not be a reserved name (postgres, admin, rdsadmin, root)."
  }
}

variable "db_sslmode" {
  description = "libpq sslmode the service uses (PGSSLMODE). verify-full checks the RDS certificate against Amazon's CA bundle, which the instance downloads at boot; require only encrypts."
  type        = string
  default     = "verify-full"

  validation {
    condition     = contains(["require", "verify-ca", "verify-full"], var.db_sslmode)
    error_message = "db_sslmode must be require, verify-ca or verify-full (the database forces TLS anyway)."
  }
}

variable "backup_retention_days" {
  description = "Days RDS keeps automated backups (point-in-time recovery window)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 7 and 35."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the RDS instance (terraform destroy fails until this is false). Off by default so the MVP can be torn down in one step; the final snapshot (skip_final_snapshot = false) keeps the data. Turn it on for anything that holds real flags."
  type        = bool
  default     = false
}

variable "skip_final_snapshot" {
  description = "Delete the database on destroy without a final snapshot. Default false: destroy leaves a snapshot named <name>-db-final (delete it by hand when no longer needed; it is billed as backup storage)."
  type        = bool
  default     = false
}

# --- shape: single instance or high availability ---------------------------------

variable "mode" {
  description = "Deployment shape. \"single\" (the default, the course's checklist): one EC2 instance in a public subnet serving HTTP/HTTPS itself, SSH from admin_cidr, Single-AZ RDS. \"ha\": an ALB in the two public subnets (HTTPS with an ACM certificate), instances from a launch template in an Auto Scaling group across the two private subnets (no public address, no SSH: SSM Session Manager), a NAT gateway for their outbound traffic, Multi-AZ RDS (docs/deploy-aws.md, High availability)."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["single", "ha"], var.mode)
    error_message = "mode must be \"single\" or \"ha\"."
  }
}

variable "db_multi_az" {
  description = "RDS Multi-AZ (a synchronous standby in the other AZ, automatic failover). null: follow mode (off in single, on in ha)."
  type        = bool
  default     = null
}

variable "alb_certificate_arn" {
  description = "ha only: ARN of the ACM certificate for the ALB's HTTPS listener (issued or imported in var.region, covering public_hostname). Required with mode = \"ha\"."
  type        = string
  default     = ""

  validation {
    condition     = var.alb_certificate_arn == "" || can(regex("^arn:aws(-cn|-us-gov)?:acm:[a-z]{2}(-gov)?-[a-z]+-[0-9]:[0-9]{12}:certificate/[0-9a-f-]{36}$", var.alb_certificate_arn))
    error_message = "alb_certificate_arn must be empty or an ACM certificate ARN: arn:aws:acm:REGION:ACCOUNT:certificate/UUID."
  }
}

variable "alb_ssl_policy" {
  description = "ha only: the HTTPS listener's TLS security policy. The default accepts TLS 1.3 and 1.2 with forward-secret ciphers only."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = can(regex("^ELBSecurityPolicy-(TLS13-1-[23]|TLS-1-2|FS-1-2)[A-Za-z0-9-]*$", var.alb_ssl_policy))
    error_message = "alb_ssl_policy must be an ELB security policy that refuses TLS 1.0 and 1.1 (ELBSecurityPolicy-TLS13-1-2-*, -TLS13-1-3-*, -TLS-1-2-*, -FS-1-2-*)."
  }
}

variable "asg_min_size" {
  description = "ha only: fewest instances in the Auto Scaling group. 2 keeps one in each AZ."
  type        = number
  default     = 2

  validation {
    condition     = var.asg_min_size >= 1 && var.asg_min_size <= 20
    error_message = "asg_min_size must be between 1 and 20."
  }
}

variable "asg_max_size" {
  description = "ha only: most instances in the Auto Scaling group (instance refresh replaces one at a time within it)."
  type        = number
  default     = 4

  validation {
    condition     = var.asg_max_size >= 1 && var.asg_max_size <= 20
    error_message = "asg_max_size must be between 1 and 20."
  }
}

variable "asg_desired_capacity" {
  description = "ha only: instances the Auto Scaling group keeps running (between asg_min_size and asg_max_size)."
  type        = number
  default     = 2

  validation {
    condition     = var.asg_desired_capacity >= 1 && var.asg_desired_capacity <= 20
    error_message = "asg_desired_capacity must be between 1 and 20."
  }
}

variable "app_port_ha" {
  description = "ha only: the port the service listens on behind the ALB (the target group's port; only the ALB's security group reaches it)."
  type        = number
  default     = 8080

  validation {
    condition     = var.app_port_ha >= 1024 && var.app_port_ha <= 65535 && var.app_port_ha != 5432
    error_message = "app_port_ha must be an unprivileged port (1024-65535), not 5432."
  }
}

variable "shutdown_drain" {
  description = "ha only: SHUTDOWN_DRAIN, seconds the service answers /ready 503 after SIGTERM while still serving, so the ALB health check takes it out of rotation first. Must be at least health_check_interval x health_check_unhealthy_threshold."
  type        = number
  default     = 15

  validation {
    condition     = var.shutdown_drain >= 1 && var.shutdown_drain <= 15
    error_message = "shutdown_drain must be between 1 and 15 seconds (with shutdown_timeout it must fit in the unit's TimeoutStopSec=30)."
  }
}

variable "shutdown_timeout" {
  description = "ha only: SHUTDOWN_TIMEOUT, seconds the service lets in-flight requests finish after it stops accepting."
  type        = number
  default     = 10

  validation {
    condition     = var.shutdown_timeout >= 1 && var.shutdown_timeout <= 14
    error_message = "shutdown_timeout must be between 1 and 14 seconds (with shutdown_drain it must fit in the unit's TimeoutStopSec=30)."
  }
}

variable "health_check_interval" {
  description = "ha only: seconds between the target group's /ready checks."
  type        = number
  default     = 5

  validation {
    condition     = var.health_check_interval >= 5 && var.health_check_interval <= 300
    error_message = "health_check_interval must be between 5 and 300 seconds (the ALB's limits)."
  }
}

variable "health_check_unhealthy_threshold" {
  description = "ha only: consecutive failed /ready checks before the ALB stops routing to an instance."
  type        = number
  default     = 2

  validation {
    condition     = var.health_check_unhealthy_threshold >= 2 && var.health_check_unhealthy_threshold <= 10
    error_message = "health_check_unhealthy_threshold must be between 2 and 10 (the ALB's limits)."
  }
}
