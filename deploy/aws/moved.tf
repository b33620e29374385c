# var.mode put a count on resources that existed without one. Terraform
# infers these moves by itself when count appears on a single-instance
# resource; written out, the plan of an existing single-mode stack after
# upgrading says "has moved to ...[0]" rather than leaving the reader to
# wonder whether the instance or its rules will be replaced (they are not).

moved {
  from = aws_instance.app
  to   = aws_instance.app[0]
}

moved {
  from = aws_vpc_security_group_ingress_rule.app_http
  to   = aws_vpc_security_group_ingress_rule.app_http[0]
}

moved {
  from = aws_vpc_security_group_ingress_rule.app_https
  to   = aws_vpc_security_group_ingress_rule.app_https[0]
}

moved {
  from = aws_vpc_security_group_ingress_rule.app_ssh
  to   = aws_vpc_security_group_ingress_rule.app_ssh[0]
}
