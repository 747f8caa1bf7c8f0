"""The one exception root of the simulator."""

from __future__ import annotations


class SimError(Exception):
    """Root of firmware_sim errors."""


class ScenarioError(SimError, ValueError):
    """A scenario file that does not follow the format (the message names file and key)."""
