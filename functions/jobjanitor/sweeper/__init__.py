"""The scheduled sweeper: cancels jobs past an age limit, and sweeps opted-in stacks on deletion."""
