"""The time-series store: points written through influxdb-client's batching write API.

The only module that imports influxdb-client. Each reading becomes one point of the
measurement ``vitalgate_reading`` with tags ``organisation``, ``patient``, ``device`` and
``metric`` and the field ``value``, stamped to the millisecond (VictoriaMetrics names it
``vitalgate_reading_value``). ``write`` returns only when the server has taken every point,
so the sink can advance its high-water mark; anything else raises ``TimeSeriesError``.

Deletes use the server's own API: InfluxDB's ``/api/v2/delete`` (a time range and a
predicate), or VictoriaMetrics' ``/api/v1/admin/tsdb/delete_series``, which removes whole
series only and cannot delete a time range (VictoriaMetrics issue #164).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, cast

import httpx
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import WriteApi, WriteOptions, WriteType
from influxdb_client.domain.write_precision import WritePrecision

from cloud.errors import CloudError
from cloud.settings import InfluxSettings

MEASUREMENT: Final = "vitalgate_reading"
FIELD: Final = "value"
TAGS: Final = ("organisation", "patient", "device", "metric")
CLOSE_WAIT_MS: Final = 5_000
FLUSH_INTERVAL_MS: Final = 100
"""Unused in practice: a chunk is one item, and a batch of one item is written at once."""
PRECISION: Final = cast(WritePrecision, WritePrecision.MS)
"""Milliseconds (the library declares its precision constants as plain strings)."""
EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

# The client logs a failed batch with the server's answer, which can quote the points
# (patient ids and values); the sink logs failures itself, without them.
logging.getLogger("influxdb_client.client.write_api").setLevel(logging.CRITICAL)
FAR_FUTURE: Final = datetime(2262, 1, 1, tzinfo=UTC)
"""InfluxDB's time stamps end in 2262 (64-bit nanoseconds)."""


class TimeSeriesError(CloudError):
    """The time-series store did not take a write or a delete; the caller retries later."""

    status = 503
    code = "timeseries_unavailable"


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One reading as a point; ``organisation`` is empty for a patient no tenant has claimed."""

    organisation: str
    patient: str
    device: str
    metric: str
    value: float
    ts: datetime

    def to_record(self) -> dict[str, Any]:
        """influxdb-client's dictionary form of a point (an empty tag is left out of the line)."""
        return {
            "measurement": MEASUREMENT,
            "tags": {tag: getattr(self, tag) for tag in TAGS},
            "fields": {FIELD: float(self.value)},
            # Whole milliseconds by integer arithmetic: the client's own datetime conversion
            # goes through a float and can land one millisecond early.
            "time": (self.ts - EPOCH) // timedelta(milliseconds=1),
        }


def selector(labels: Mapping[str, str]) -> str:
    """A PromQL series selector for the measurement's field with these exact label values."""
    parts = [f'__name__="{MEASUREMENT}_{FIELD}"']
    for key, value in sorted(labels.items()):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'{key}="{escaped}"')
    return "{" + ",".join(parts) + "}"


class TimeSeriesStore:
    """Writes (batched, retried, confirmed) and deletes against one InfluxDB-compatible server."""

    def __init__(self, settings: InfluxSettings) -> None:
        if not settings.url:
            raise TimeSeriesError("no time-series store configured: set VG_INFLUX__URL")
        self.settings = settings
        self.url = settings.url.rstrip("/")
        self._client = InfluxDBClient(
            url=self.url,
            token=settings.token.get_secret_value(),
            org=settings.org,
            timeout=settings.timeout_ms,
        )
        self._http = httpx.Client(base_url=self.url, timeout=settings.timeout_ms / 1000)
        self._done = threading.Condition()
        self._generation = 0
        self._written = 0
        self._failed: list[str] = []
        self._write_api: WriteApi | None = None

    # ------------------------------------------------------------------ writing
    def _api(self) -> WriteApi:
        if self._write_api is None:
            s = self.settings
            # Each chunk goes in as one pre-serialised item (see ``write``), so a batch of one
            # item is the whole chunk: written at once, with the client's retries.
            options = WriteOptions(
                write_type=WriteType.batching,
                batch_size=1,
                flush_interval=FLUSH_INTERVAL_MS,
                retry_interval=s.retry_interval_ms,
                max_retries=s.max_retries,
                max_retry_time=s.max_retry_time_ms,
                max_close_wait=CLOSE_WAIT_MS,
            )
            generation = self._generation
            self._write_api = self._client.write_api(
                write_options=options,
                success_callback=lambda _conf, data: self._settle(generation, data, None),
                error_callback=lambda _conf, data, exc: self._settle(generation, data, exc),
            )
        return self._write_api

    def _settle(self, generation: int, data: Any, exc: Exception | None) -> None:
        lines = data.count(b"\n") + 1 if isinstance(data, bytes) else str(data).count("\n") + 1
        with self._done:
            if generation != self._generation:
                return  # a batch of an abandoned write: its outcome no longer counts
            if exc is None:
                self._written += lines
            else:
                # Never the exception's text: a server's 400 echoes the offending line
                # (patient ids and values) back, and this message reaches the logs.
                status = getattr(exc, "status", None)
                self._failed.append(type(exc).__name__ + (f" HTTP {status}" if status else ""))
                self._written += lines
            self._done.notify_all()

    def write(self, points: Sequence[SeriesPoint]) -> None:
        """Write ``points`` and wait until the server took all of them (after the client's retries).

        Only one write is in flight at a time, so the client's buffer holds at most one chunk.
        """
        if not points:
            return
        s = self.settings
        with self._done:
            self._written, self._failed = 0, []
        # Serialised here by the client's own Point, then handed over as one body: its
        # batching pipeline costs ~100 µs per item, which one item per chunk avoids.
        body = "\n".join(
            Point.from_dict(p.to_record(), write_precision=PRECISION).to_line_protocol()
            for p in points
        )
        self._api().write(
            bucket=s.bucket,
            org=s.org,
            record=body.encode(),
            write_precision=PRECISION,
        )
        deadline_s = (s.max_retry_time_ms + FLUSH_INTERVAL_MS + 2 * s.timeout_ms) / 1000
        with self._done:
            settled = self._done.wait_for(lambda: self._written >= len(points), deadline_s)
            failed = list(self._failed)
        if failed or not settled:
            self._abandon()
            reason = failed[0] if failed else f"no answer within {deadline_s:.0f} s"
            raise TimeSeriesError(
                f"the time-series store at {self.url} did not take {len(points)} points "
                f"({reason}); they stay after the sink's mark and are written again later"
            )

    def _abandon(self) -> None:
        """Drop the write API after a failure; late callbacks of its batches are ignored."""
        with self._done:
            self._generation += 1
        api, self._write_api = self._write_api, None
        if api is not None:
            api.close()  # type: ignore[no-untyped-call]

    # ------------------------------------------------------------------ deleting
    def delete(self, labels: Mapping[str, str], *, before: datetime | None = None) -> None:
        """Delete the points of the series with these labels (all of them, or those before ``before``).

        On VictoriaMetrics only whole series can go: ``before`` is refused there; see
        ``cloud.store.retention`` for how the record rebuilds a series' newer points.
        """
        try:
            if self.settings.flavour == "victoriametrics":
                if before is not None:
                    raise TimeSeriesError("VictoriaMetrics deletes whole series only")
                # A series created in the last second or so is not yet in the searchable
                # index, and delete_series would silently miss it (seen in the tests).
                # The single-node server's flush makes it searchable first.
                self._http.get("/internal/force_flush")
                r = self._http.post(
                    "/api/v1/admin/tsdb/delete_series", params={"match[]": selector(labels)}
                )
                r.raise_for_status()
                return
            predicate = " AND ".join(
                f'{k}="{v}"' for k, v in [("_measurement", MEASUREMENT), *sorted(labels.items())]
            )
            self._client.delete_api().delete(
                start=EPOCH,
                stop=before or FAR_FUTURE,
                predicate=predicate,
                bucket=self.settings.bucket,
                org=self.settings.org,
            )
        except TimeSeriesError:
            raise
        except Exception as exc:
            raise TimeSeriesError(
                f"the time-series store at {self.url} refused a delete ({type(exc).__name__}); "
                "it is retried by the next sink cycle or purge"
            ) from exc

    def series_with_points_before(
        self, labels: Mapping[str, str], before: datetime
    ) -> list[dict[str, str]]:
        """VictoriaMetrics: the label sets of the series matching ``labels`` with points before ``before``."""
        try:
            r = self._http.get(
                "/api/v1/series",
                params={
                    "match[]": selector(labels),
                    # VictoriaMetrics reads start=0 as "not given" (the last day only).
                    "start": "1",
                    "end": f"{before.timestamp():.3f}",
                },
            )
            r.raise_for_status()
            found: list[dict[str, str]] = r.json()["data"]
        except Exception as exc:
            raise TimeSeriesError(
                f"the time-series store at {self.url} did not list series ({type(exc).__name__})"
            ) from exc
        return [{k: v for k, v in s.items() if k in TAGS} for s in found]

    def close(self) -> None:
        self._abandon()
        self._http.close()
        self._client.close()  # type: ignore[no-untyped-call]
