"""moto's CloudFormation learns the two resource types the teardown hook guards.

moto 5.2.5 has Neptune clusters (through its RDS backend: ``neptune:CreateDBCluster``,
``DescribeDBClusters``) and Glue ML transforms, but its CloudFormation does not know
``AWS::Neptune::DBCluster`` nor ``AWS::Glue::MLTransform``: a stack holding them would be
created without them. This module registers both as moto CloudFormation models, so
``CreateStack`` creates the cluster and the transform in moto's own backends,
``DescribeStackResource`` gives their physical ids (the cluster identifier, the transform id)
as CloudFormation does, and ``DeleteStack`` deletes them.

Neptune's cluster endpoints are ``<id>.cluster-<x>.<region>.neptune.amazonaws.com``; moto names
them like RDS ones (``...rds.amazonaws.com``). To reach a Neptune emulator, point the cluster at
it afterwards (:func:`jobjanitor_testbed.clusters.point_at_emulator`).
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.core.common_models import CloudFormationModel

NEPTUNE_CLUSTER = "AWS::Neptune::DBCluster"
GLUE_TRANSFORM = "AWS::Glue::MLTransform"


def _neptune(account_id: str, region_name: str) -> Any:
    from moto.backends import get_backend  # noqa: PLC0415 - moto is heavy; only when used

    return get_backend("neptune")[account_id][region_name]


def _glue(account_id: str, region_name: str) -> Any:
    from moto.backends import get_backend  # noqa: PLC0415

    return get_backend("glue")[account_id][region_name]


class NeptuneClusterResource(CloudFormationModel):
    """``AWS::Neptune::DBCluster``: ``Ref`` and the physical id are the cluster identifier."""

    def __init__(self, identifier: str, account_id: str, region_name: str) -> None:
        self.identifier = identifier
        self.account_id = account_id
        self.region_name = region_name

    @property
    def physical_resource_id(self) -> str:
        return self.identifier

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DBClusterIdentifier"

    @staticmethod
    def cloudformation_type() -> str:
        return NEPTUNE_CLUSTER

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("Endpoint", "Port", "ReadEndpoint", "ClusterResourceId")

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        cluster = _neptune(self.account_id, self.region_name).clusters[self.identifier]
        return {
            "Endpoint": cluster.endpoint,
            "Port": str(cluster.port),
            "ReadEndpoint": cluster.reader_endpoint,
            "ClusterResourceId": cluster.resource_id,
        }[attribute_name]

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> NeptuneClusterResource:
        identifier = resource_name.lower()  # Neptune keeps identifiers in lower case
        _neptune(account_id, region_name).create_db_cluster(
            {"db_cluster_identifier": identifier, "engine": "neptune", "region": region_name}
        )
        return cls(identifier, account_id, region_name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], *args: Any
    ) -> Any:
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        _neptune(account_id, region_name).delete_db_cluster(cluster_identifier=resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        _neptune(account_id, region_name).delete_db_cluster(cluster_identifier=self.identifier)


class GlueMLTransformResource(CloudFormationModel):
    """``AWS::Glue::MLTransform``: ``Ref`` and the physical id are the transform id."""

    def __init__(self, transform_id: str) -> None:
        self.transform_id = transform_id

    @property
    def physical_resource_id(self) -> str:
        return self.transform_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return "Name"

    @staticmethod
    def cloudformation_type() -> str:
        return GLUE_TRANSFORM

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str, **kwargs: Any
    ) -> GlueMLTransformResource:
        props = cloudformation_json.get("Properties", {})
        params = props.get("TransformParameters", {})
        transform_id = _glue(account_id, region_name).create_ml_transform(
            name=props.get("Name", resource_name),
            input_record_tables=props.get("InputRecordTables", {}).get("GlueTables", []),
            parameters={
                "TransformType": params.get("TransformType", "FIND_MATCHES"),
                "FindMatchesParameters": params.get("FindMatchesParameters", {}),
            },
            role=props.get("Role", ""),
            glue_version=props.get("GlueVersion", "2.0"),
        )
        return cls(str(transform_id))

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls, original_resource: Any, new_resource_name: str, cloudformation_json: dict[str, Any], *args: Any
    ) -> Any:
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        _glue(account_id, region_name).delete_ml_transform(resource_name)

    def delete(self, account_id: str, region_name: str) -> None:
        _glue(account_id, region_name).delete_ml_transform(self.transform_id)


def install() -> None:
    """The model classes are registered once this module is imported (moto finds models as
    subclasses); moto caches its type map, so it is cleared. Safe to call any number of times."""
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
