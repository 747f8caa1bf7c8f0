"""Per-patient thresholds: overrides of the program rules, versions, shadow mode, replay, config."""
