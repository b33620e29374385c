# The instance's only AWS permissions, all on Secrets Manager, each on one
# secret named by its full ARN:
#   - read the database master secret that RDS created and manages
#     (manage_master_user_password);
#   - read the admin API token secret (secrets.tf), and create its first
#     value: at first boot the secret is empty and the instance generates the
#     token (PutSecretValue). No other secret can be written, and nothing can
#     be deleted, described or listed;
#   - when tls_secret_arn is set, read that one secret with the TLS
#     certificate and key.
# Nothing else: no CloudWatch agent, no S3; in mode = "ha" only, the
# Session Manager statements in ha.tf (no SSH there). The secrets are encrypted
# with the AWS-managed key aws/secretsmanager, whose key policy lets Secrets
# Manager encrypt and decrypt for callers in the account, so no kms: grant is
# needed (it would be with a customer-managed key: for the database with
# master_user_secret_kms_key_id, for the TLS secret with --kms-key-id, for the
# admin token with kms_key_id).

data "aws_iam_policy_document" "ec2_assume" {
  statement {
    sid     = "EC2AssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "instance_secrets" {
  statement {
    sid       = "ReadDatabaseMasterSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_db_instance.main.master_user_secret[0].secret_arn]
  }

  # Put: togglemaster-fetch-secret writes a value only when it finds none
  # (the first boot); an instance holds the token anyway, so the write adds
  # no read access to anything.
  statement {
    sid       = "ReadAndCreateAdminToken"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"]
    resources = [aws_secretsmanager_secret.admin_token.arn]
  }

  # With tls_secret_arn empty (the default) this adds nothing: the policy is
  # the two statements above.
  dynamic "statement" {
    for_each = var.tls_secret_arn == "" || var.mode == "ha" ? [] : [var.tls_secret_arn]
    content {
      sid       = "ReadTlsCertificateSecret"
      effect    = "Allow"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role" "app" {
  name_prefix          = "${var.name}-app-"
  description          = "ToggleMaster EC2 instance: read its secrets (database, admin token, TLS)"
  assume_role_policy   = data.aws_iam_policy_document.ec2_assume.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "instance_secrets" {
  name   = "togglemaster-secrets"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.instance_secrets.json
}

resource "aws_iam_instance_profile" "app" {
  name_prefix = "${var.name}-app-"
  role        = aws_iam_role.app.name
}
