"""The prefix registry's items: per cluster, a map of ``<stack id>|<logical id>`` to the job-id
prefix that guard uses (the decisions on them: :mod:`jobjanitor.guard.prefixes`).

One item per cluster, keyed ``jobjanitor#guard-prefixes#<name>`` (:func:`jobjanitor.store.table.key`),
``name`` the cluster's resource id; earlier versions used the endpoint string a guard was given
as ``name``, in the same scheme, so reading those is reading another name. Every call raises
botocore errors to the caller.
"""

from __future__ import annotations

import contextlib
from typing import Any

from jobjanitor.store.table import Table, key

NAMESPACE = "guard-prefixes"


def prefixes_key(name: str) -> str:
    return key(NAMESPACE, name)


class PrefixStore:
    """The ``prefixes`` map of each registry item."""

    def __init__(self, table_name: str, client: Any) -> None:
        self.table_name = table_name
        self._client = client
        self._table = Table(table_name, client)

    def entries(self, name: str) -> dict[str, str]:
        item = self._table.get(prefixes_key(name)) or {}
        entries = item.get("prefixes", {}).get("M", {})
        return {k: v["S"] for k, v in entries.items() if "S" in v}

    def record(self, name: str, owner: str, prefix: str) -> None:
        item_key = prefixes_key(name)
        self._table.update(item_key, "SET prefixes = if_not_exists(prefixes, :empty)", values={":empty": {"M": {}}})
        self._table.update(
            item_key, "SET prefixes.#owner = :prefix", names={"#owner": owner}, values={":prefix": {"S": prefix}}
        )

    def forget(self, name: str, owner: str) -> None:
        # No entry of this guard under this key: nothing to remove (and no empty item made).
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._table.update(
                prefixes_key(name),
                "REMOVE prefixes.#owner",
                names={"#owner": owner},
                condition="attribute_exists(prefixes.#owner)",
            )
