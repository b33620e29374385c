# Terraform and provider versions. No Terraform binary runs in this repo's CI:
# tests/infra/run.sh parses these files with @cdktf/hcl2json (HashiCorp's HCL
# parser compiled to wasm) and checks the security rules on the result.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  region = var.region

  # Every resource that supports tags gets these, so the bill can be filtered
  # by Project (Cost Explorer -> tag "Project", once activated as a cost
  # allocation tag) and everything this stack created is easy to find.
  default_tags {
    tags = {
      Project     = var.name
      Environment = var.environment
      ManagedBy   = "terraform"
      Repository  = "togglemaster/deploy/aws"
    }
  }
}
