# The instance's only AWS permission: read the database master secret that
# RDS created and manages (manage_master_user_password), and, when
# tls_secret_arn is set, that one secret with the TLS certificate and key.
# Nothing else: no SSM, no CloudWatch agent, no S3. Both secrets are
# encrypted with the AWS-managed key aws/secretsmanager, whose key policy lets
# Secrets Manager decrypt for callers in the account, so no kms:Decrypt grant
# is needed (it would be with a customer-managed key: for the database with
# master_user_secret_kms_key_id, for the TLS secret with --kms-key-id).

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

data "aws_iam_policy_document" "read_db_secret" {
  statement {
    sid       = "ReadDatabaseMasterSecret"
    effect    = "Allow"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = [aws_db_instance.main.master_user_secret[0].secret_arn]
  }

  # With tls_secret_arn empty (the default) this adds nothing: the policy is
  # the one statement above.
  dynamic "statement" {
    for_each = var.tls_secret_arn == "" ? [] : [var.tls_secret_arn]
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
  description          = "ToggleMaster EC2 instance: read the RDS master secret"
  assume_role_policy   = data.aws_iam_policy_document.ec2_assume.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "read_db_secret" {
  name   = "read-db-master-secret"
  role   = aws_iam_role.app.id
  policy = data.aws_iam_policy_document.read_db_secret.json
}

resource "aws_iam_instance_profile" "app" {
  name_prefix = "${var.name}-app-"
  role        = aws_iam_role.app.name
}
