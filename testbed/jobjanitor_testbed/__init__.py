"""Local stand-ins for Neptune's data API and Glue's ML task runs (moto has neither)."""
