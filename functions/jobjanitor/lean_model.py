"""What a service model says of the operations :mod:`jobjanitor.lean_http` sends: how a call's
request is built (rest-json: method, path and query; json: target header and body), as botocore
builds it, and where an answer holds timestamps, turned into aware datetimes as botocore's
parser turns them. Read once per client, from botocore's own model."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["Operation"]

_LABEL = re.compile(r"{(.*?)}")
# A shape nested deeper than this is not searched for timestamps (recursive shapes).
MAX_SHAPE_DEPTH = 12


class Operation:
    """What the service model says of one operation: how its request is sent (rest-json: the
    HTTP method, path and query members; json: the target and body), and where its answer holds
    timestamps."""

    def __init__(self, model: Any) -> None:
        service = model.service_model
        self.name: str = model.name
        self.protocol: str = service.protocol
        self.method: str = model.http["method"]
        self.uri: str = model.http["requestUri"]
        self.labels: dict[str, str] = {}
        self.query: dict[str, str] = {}
        self.headers: dict[str, str] = {}
        shape = model.input_shape
        members = dict(shape.members) if shape is not None else {}
        self.members = frozenset(members)
        if self.protocol == "json":
            version = service.metadata.get("jsonVersion", "1.0")
            self.headers = {
                "X-Amz-Target": f"{service.metadata['targetPrefix']}.{self.name}",
                "Content-Type": f"application/x-amz-json-{version}",
            }
        for member, member_shape in members.items() if self.protocol == "rest-json" else ():
            where = member_shape.serialization.get("location")
            name = member_shape.serialization.get("name", member)
            if where == "uri":
                self.labels[member] = name
            elif where == "querystring":
                self.query[member] = name
            else:  # a body or header member: not sent on this path
                raise ValueError(f"{self.name}.{member} is sent in the {where or 'body'}")
        self.convert = _timestamps(model.output_shape)

    def request(self, params: dict[str, Any]) -> tuple[str, bytes | None] | None:
        """The path and query, and the body, botocore would send; None when ``params`` holds
        what this path does not send."""
        if not set(params) <= self.members:
            return None
        if self.protocol == "json":
            try:
                return self.uri, json.dumps(params).encode()
            except (TypeError, ValueError):  # a value botocore would serialise (a datetime...)
                return None
        from botocore.utils import percent_encode, percent_encode_sequence  # noqa: PLC0415 - lazy: cold start

        # rest-json: every member is a label or a query member (__init__ refuses any other).
        values = {self.labels[m]: percent_encode(str(v), safe="-_.~") for m, v in params.items() if m in self.labels}
        path = _LABEL.sub(lambda match: values[match.group(1).rstrip("+")], self.uri)
        query = {self.query[m]: _query_value(v) for m, v in params.items() if m in self.query}
        return (f"{path}?{percent_encode_sequence(query)}" if query else path), None


Convert = Callable[[Any], Any]


def _timestamps(shape: Any, depth: int = 0) -> Convert | None:
    """A function that turns the timestamps of a parsed ``shape`` value into aware datetimes (as
    botocore's parser does), or None when ``shape`` holds none."""
    if shape is None or depth > MAX_SHAPE_DEPTH:
        return None
    kind = shape.type_name
    if kind == "timestamp":
        return _datetime
    if kind in ("list", "map"):
        return _each(_timestamps(shape.member if kind == "list" else shape.value, depth + 1))
    if kind != "structure":
        return None
    found = {
        member.serialization.get("name", name): convert
        for name, member in shape.members.items()
        if (convert := _timestamps(member, depth + 1)) is not None
    }
    if not found:
        return None

    def structure(value: Any) -> Any:
        if isinstance(value, dict):
            for key, convert in found.items():
                if value.get(key) is not None:
                    value[key] = convert(value[key])
        return value

    return structure


def _each(convert: Convert | None) -> Convert | None:
    """``convert`` applied to each item of a list, or each value of a map."""
    if convert is None:
        return None

    def each(value: Any) -> Any:
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        return value

    return each


def _datetime(value: Any) -> Any:
    """A wire timestamp as an aware datetime: epoch seconds (json protocols), else as botocore
    parses it (ISO 8601)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    from botocore.utils import parse_timestamp  # noqa: PLC0415 - lazy: rare

    return parse_timestamp(value)


def _query_value(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
