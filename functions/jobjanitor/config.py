"""Coercion helpers shared by every edge (guard properties, environment variables, CLI).

Guard properties arrive as strings ("true", "900"), environment variables always do, the CLI
mostly does. Every helper takes the field name first, so its :class:`ConfigError` names the
setting the way the caller's user wrote it. ``None`` passes through as ``None`` where noted:
callers apply their own defaults.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from jobjanitor.errors import ConfigError
from jobjanitor.model import OPT_IN_KINDS, JobKindName

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off", ""})
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_MAX_DURATION_SECONDS = 10 * 365 * 86400

# The install's settings the sweeper and the hook both read (template.yaml sets them once for
# both functions): Policy field -> environment variable.
SHARED_ENV = {
    "neptune_iam_role_arn": "JOBJANITOR_NEPTUNE_IAM_ROLE_ARN",
    "glue_region": "JOBJANITOR_GLUE_REGION",
    "glue_transform_ids": "JOBJANITOR_GLUE_TRANSFORM_IDS",
    "glue_transform_name_prefix": "JOBJANITOR_GLUE_TRANSFORM_NAME_PREFIX",
    "clean": "JOBJANITOR_CLEAN",
}


def parse_bool(field: str, value: object) -> bool:
    """``True``/``False``, or a string: true/false, yes/no, 1/0, on/off (any case); ``""`` is false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise ConfigError(field, f"must be true or false, got {value!r}")


def parse_int(field: str, value: object, lo: int, hi: int) -> int:
    """An integer in ``[lo, hi]``, from an int or a decimal string."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        number = int(value)
    if number is None or not lo <= number <= hi:
        raise ConfigError(field, f"must be an integer between {lo} and {hi}, got {value!r}")
    return number


def parse_duration(field: str, value: object) -> timedelta:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``, ``"3600"`` (seconds), an int of seconds or a timedelta."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    else:
        raise ConfigError(field, f"must be a duration like 90s, 15m, 2h, 1d or 3600 (seconds), got {value!r}")
    if not 0 <= seconds <= _MAX_DURATION_SECONDS:
        raise ConfigError(field, f"must be between 0 seconds and 10 years, got {value!r}")
    return timedelta(seconds=seconds)


def parse_list(field: str, value: object) -> tuple[str, ...]:
    """A comma-separated string or a list of (comma-separated) strings -> stripped, non-empty,
    de-duplicated items in order. ``None`` gives ``()``; callers decide whether no item is an
    error (scope settings: it is)."""
    if value is None:
        return ()
    items: Iterable[object]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        raise ConfigError(field, f"must be a comma-separated string or a list of strings, got {value!r}")
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ConfigError(field, f"must contain only strings, got {item!r}")
        # A list's items are comma lists too (a repeated CLI flag given "a,b", or ","): no
        # id contains a comma, and "," must read as blank, not as an id.
        for part in item.split(","):
            text = part.strip()
            if text and text not in out:
                out.append(text)
    return tuple(out)


def parse_kinds(field: str, value: object) -> frozenset[JobKindName]:
    """Kind names (see :class:`JobKindName`), comma-separated or a list; ``all`` selects every
    job kind, not the opt-in kinds (:data:`OPT_IN_KINDS`: inference endpoints), which are
    chosen only by name (``all,neptune-ml-endpoint``). A blank value (``""``, ``","``, ``[]``)
    is an error, never "every kind"."""
    names = parse_list(field, value)
    if not names:
        valid = ", ".join(k.value for k in JobKindName)
        raise ConfigError(field, f"is blank: name job kinds ({valid}) or all")
    kinds: set[JobKindName] = set()
    if any(name.lower() == "all" for name in names):
        kinds.update(frozenset(JobKindName) - OPT_IN_KINDS)
        names = tuple(name for name in names if name.lower() != "all")
    for name in names:
        try:
            kinds.add(JobKindName(name.lower()))
        except ValueError:
            valid = ", ".join(k.value for k in JobKindName)
            raise ConfigError(field, f"unknown job kind {name!r} (valid: {valid}, all)") from None
    return frozenset(kinds)


def parse_tags(field: str, value: object) -> dict[str, str]:
    """A ``{"k": "v"}`` map or ``"k=v,k2=v2"`` -> dict of strings."""
    if value is None:
        return {}
    if isinstance(value, dict):
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            raise ConfigError(field, "tag keys and values must be strings")
        return dict(value)
    tags: dict[str, str] = {}
    for item in parse_list(field, value):
        key, sep, val = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(field, f"tags must look like key=value, got {item!r}")
        tags[key.strip()] = val.strip()
    return tags
