"""The CloudFormation custom-resource protocol, owned by jobjanitor (docs/design.md says why)."""
