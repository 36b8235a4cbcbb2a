"""The teardown guard: a CloudFormation custom resource that stops jobs before their stack goes."""
