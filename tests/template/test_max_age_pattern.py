"""The template's ``MaxAge`` constraint and the sweeper's run-time validation agree.

A value CloudFormation accepts must be one the sweeper accepts: otherwise the deploy succeeds
and every scheduled sweep fails (``30s`` and ``0m`` used to). The template is stricter in form
only (a unit is required, lower case, no spaces); for strings of that form the two accept
exactly the same values. The runtime is the judge: ``SweeperConfig.from_env`` with
``JOBJANITOR_MAX_AGE`` set as the template sets it. The pattern is generated here from the
sweeper's bounds (at least 1 minute, at most 10 years): when the runtime's bounds change, this
test prints the pattern to paste into template.yaml.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jobjanitor.errors import ConfigError
from jobjanitor.sweeper.config import ENV, SweeperConfig

MIN_SECONDS = 60
MAX_SECONDS = 10 * 365 * 86400
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FORM = re.compile(r"[0-9]+[smhd]")  # the template's form: digits and a lower-case unit


def range_regex(lo: int, hi: int) -> str:
    """A regex (no anchors, no leading zeros) matching exactly the decimal integers in [lo, hi], lo >= 1."""
    assert 1 <= lo <= hi
    blocks: list[tuple[str, str, int]] = []  # (fixed prefix, a digit class, k free digits)
    while lo <= hi:
        k = 0  # grow the block while it is aligned and fits
        while lo % 10 ** (k + 1) == 0 and lo + 10 ** (k + 1) - 1 <= hi:
            k += 1
        step = 10**k
        top = min(hi, lo // (step * 10) * step * 10 + step * 10 - 1)
        last = lo + (top - lo + 1) // step * step - 1
        first_digits, last_digits = str(lo // step), str(last // step)
        digit = first_digits[-1] if first_digits == last_digits else f"[{first_digits[-1]}-{last_digits[-1]}]"
        blocks.append((first_digits[:-1], digit, k))
        lo = last + 1
    parts: list[str] = []
    i = 0
    while i < len(blocks):  # [1-9], [1-9][0-9], [1-9][0-9]{2}... in a row: [1-9][0-9]{0,n}
        prefix, digit, k = blocks[i]
        j = i
        while prefix == "" and digit == "[1-9]" and j + 1 < len(blocks) and blocks[j + 1] == ("", digit, k + j + 1 - i):
            j += 1
        if j > i:
            tail = f"[0-9]{{{k},{k + j - i}}}"
        elif k:
            tail = "[0-9]" if k == 1 else f"[0-9]{{{k}}}"
        else:
            tail = ""
        parts.append(prefix + digit + tail)
        i = j + 1
    return "|".join(parts)


def expected_pattern(min_seconds: int = MIN_SECONDS) -> str:
    units = "|".join(
        f"({range_regex(-(-min_seconds // factor), MAX_SECONDS // factor)}){unit}" for unit, factor in UNITS.items()
    )
    return f"^0*({units})$"


# EndpointMaxAge (JOBJANITOR_ENDPOINT_MAX_AGE, read with neptune-ml-endpoint in the kinds): at
# least an hour.
ENDPOINT_MIN_SECONDS = 3600


def template_accepts(template: dict[str, Any], value: str) -> bool:
    # CloudFormation matches AllowedPattern against the whole value (the pattern is anchored).
    return re.fullmatch(template["Parameters"]["MaxAge"]["AllowedPattern"], value) is not None


def sweeper_accepts(value: str) -> bool:
    env = {ENV["job_id_prefix"]: "*", ENV["min_age"]: value, ENV["glue_transform_ids"]: "tfm-1"}
    refused: ConfigError | None = None
    try:
        SweeperConfig.from_env(env, clusters=[])
    except ConfigError as error:
        refused = error
    assert refused is None or refused.field == ENV["min_age"], refused  # only the age may be refused
    return refused is None


def test_the_template_pattern_is_generated_from_the_sweepers_bounds(template: dict[str, Any]) -> None:
    assert template["Parameters"]["MaxAge"]["AllowedPattern"] == expected_pattern(), (
        f"set MaxAge's AllowedPattern to {expected_pattern()!r}"
    )


def endpoint_sweeper_accepts(value: str) -> bool:
    env = {
        ENV["job_id_prefix"]: "*",
        ENV["min_age"]: "6h",
        ENV["kinds"]: "neptune-ml-endpoint",
        ENV["endpoint_min_age"]: value,
    }
    refused: ConfigError | None = None
    try:
        SweeperConfig.from_env(env, clusters=[])
    except ConfigError as error:
        refused = error
    # Only the age may be refused (no cluster configured: the kind's endpoint comes after).
    assert refused is None or refused.field in (ENV["endpoint_min_age"], ENV["neptune_endpoint"]), refused
    return refused is None or refused.field != ENV["endpoint_min_age"]


def test_the_endpoint_age_pattern_is_generated_from_the_sweepers_bounds(template: dict[str, Any]) -> None:
    wanted = expected_pattern(ENDPOINT_MIN_SECONDS)
    assert template["Parameters"]["EndpointMaxAge"]["AllowedPattern"] == wanted, (
        f"set EndpointMaxAge's AllowedPattern to {wanted!r}"
    )


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("59m", False), ("3599s", False), ("1h", True), ("3600s", True), ("7d", True), ("3651d", False)],
)
def test_endpoint_age_boundaries(template: dict[str, Any], value: str, accepted: bool) -> None:
    assert endpoint_sweeper_accepts(value) is accepted
    pattern = template["Parameters"]["EndpointMaxAge"]["AllowedPattern"]
    assert (re.fullmatch(pattern, value) is not None) is accepted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("30s", False),
        ("0m", False),
        ("59s", False),
        ("60s", True),
        ("1m", True),
        ("6h", True),
        ("3650d", True),
        ("3651d", False),
        ("315360000s", True),
        ("315360001s", False),
        ("87601h", False),
        ("006h", True),
    ],
)
def test_boundaries(template: dict[str, Any], value: str, accepted: bool) -> None:
    assert sweeper_accepts(value) is accepted
    assert template_accepts(template, value) is accepted


@settings(max_examples=400, deadline=None)
@given(value=st.text(alphabet="0123456789smhdSMHD -+.x\t", max_size=12))
@example("30s")
@example("0m")
def test_whatever_the_template_accepts_the_sweeper_accepts(template: dict[str, Any], value: str) -> None:
    if template_accepts(template, value):
        assert sweeper_accepts(value), value


@settings(max_examples=600, deadline=None)
@given(number=st.integers(min_value=0, max_value=10**11), unit=st.sampled_from(sorted(UNITS)), zeros=st.integers(0, 2))
def test_in_the_template_form_both_accept_the_same_values(
    template: dict[str, Any], number: int, unit: str, zeros: int
) -> None:
    value = "0" * zeros + f"{number}{unit}"
    assert FORM.fullmatch(value)
    assert template_accepts(template, value) == sweeper_accepts(value), value
