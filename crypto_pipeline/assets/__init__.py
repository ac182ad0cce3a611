"""Dagster wiring of every layer (one subpackage per layer)."""

#: Dagster's op tag for step order inside a run: among the steps ready at the same time, the higher runs first
STEP_PRIORITY = "dagster/priority"
