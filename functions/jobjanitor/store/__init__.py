"""The janitor's one DynamoDB table: one key scheme (:mod:`.table`) and its three writers of
our own (:mod:`.requests`, :mod:`.prefixes`, :mod:`.first_seen`). Powertools' idempotency
records share the table under Powertools' own keys (``<function name>#<hash>``)."""
