"""The teardown hook: a CloudFormation Lambda Hook that stops the jobs on a Neptune cluster or a
Glue ML transform before CloudFormation deletes it, in any stack of the account and region."""
