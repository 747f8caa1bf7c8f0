"""The uplink package's one exception root."""

from __future__ import annotations


class UplinkError(Exception):
    """The uplink or downlink cannot work as configured; the message says what to check."""
