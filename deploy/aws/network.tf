# VPC: two public subnets (the EC2 instance; an ALB later needs two AZs) and
# two private subnets (the RDS subnet group needs two AZs even for a
# Single-AZ instance). Public subnets route to the internet gateway; private
# ones have only the VPC-local route: no NAT gateway (billed by the hour,
# more than the t3.micro itself, plus per GB), because nothing in them needs
# to reach out: RDS gets its patches from AWS, not from the internet.

data "aws_availability_zones" "available" {
  state = "available"

  # Regular AZs only: no Local Zones or Wavelength Zones.
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  azs = slice(data.aws_availability_zones.available.names, 0, 2)
}

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # the instance gets a public DNS name (the app_url output)

  tags = { Name = "${var.name}-vpc" }
}

# The default security group of a new VPC allows all traffic between its
# members. Nothing uses it; strip its rules so nothing can by accident.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${var.name}-default-unused" }
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${var.name}-igw" }
}

resource "aws_subnet" "public" {
  count = 2

  vpc_id            = aws_vpc.main.id
  cidr_block        = var.public_subnet_cidrs[count.index]
  availability_zone = local.azs[count.index]

  # The instance asks for its public address explicitly
  # (associate_public_ip_address); nothing else launched here gets one.
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-public-${local.azs[count.index]}", Tier = "public" }
}

resource "aws_subnet" "private" {
  count = 2

  vpc_id                  = aws_vpc.main.id
  cidr_block              = var.private_subnet_cidrs[count.index]
  availability_zone       = local.azs[count.index]
  map_public_ip_on_launch = false

  tags = { Name = "${var.name}-private-${local.azs[count.index]}", Tier = "private" }
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }

  tags = { Name = "${var.name}-public" }
}

# Only the implicit local route (10.0.0.0/16 -> local): no internet gateway,
# no NAT. RDS is reachable only from inside the VPC. `route = []` (rather
# than no route argument) makes Terraform own the whole table: a route added
# by hand shows up in the next plan and is removed.
resource "aws_route_table" "private" {
  vpc_id = aws_vpc.main.id
  route  = []

  tags = { Name = "${var.name}-private" }
}

resource "aws_route_table_association" "public" {
  count = 2

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# In ha the private subnets also hold the app instances, which need to
# reach out (ha.tf: NAT gateway); their route table is then the one with
# the NAT route. RDS never initiates connections either way.
resource "aws_route_table_association" "private" {
  count = 2

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = local.ha ? aws_route_table.private_nat[0].id : aws_route_table.private.id
}
