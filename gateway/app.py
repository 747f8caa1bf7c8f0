"""The gateway process, wired in the order of the pipeline in docs/architecture.md:

BLE link → device manager (one session per paired device: decode, attribute) → readings and
device events → signal stage (edge findings of the config's rule set, confirmation included;
per-minute rollups of streams, with HRV) → outbox (SQLite WAL) → uplink (MQTT).

The downlink runs the other way: the cloud's retained config gives the device manager its
pairings in one step, and commands are answered on ``…/command_results``. With the cloud's
verification key (``downlink_key``) nothing unsigned, wrongly signed, older than what runs
or replayed is applied; refusals are counted in the status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from gateway import __version__, metrics, signing, wire
from gateway.ble import web
from gateway.ble.household import people
from gateway.ble.link import BleLink
from gateway.ble.manager import DeviceManager, pairings_from_settings
from gateway.ble.measurement import Measurement
from gateway.outbox import Kind, Outbox, Row
from gateway.readings import to_wire
from gateway.settings import GatewaySettings
from gateway.signal import edge_rules
from gateway.signal.stage import EdgeStage
from gateway.uplink import remote_commands
from gateway.uplink.config import ConfigStore, Verdict, decide
from gateway.uplink.errors import UplinkError
from gateway.uplink.mqtt import Uplink
from gateway.uplink.trust import Refusals, SeenCommands, command_refusal

log = structlog.get_logger(__name__)

QUEUE_LIMIT: Final = 10_000
WRITE_BATCH: Final = 500
STATE_INTERVAL_S: Final = 1.0
ROLLUP_CHECK_S: Final = 1.0
"""With no readings arriving, how often the signal stage looks for minutes that are over."""
REMEMBERED_COMMANDS: Final = 256
"""Results kept so a command the broker delivers twice (QoS 1) runs only once."""

WallClock = Callable[[], datetime]
Item = Measurement | wire.Event
"""What the BLE stage hands to the outbox writer: a decoded measurement or a device event."""


def _utcnow() -> datetime:
    return datetime.now(UTC)


def rows_of(items: Sequence[Item]) -> list[Row]:
    """Outbox rows: a measurement's readings share a group; an event is a row of its own."""
    return rows_and_readings(items)[0]


def rows_and_readings(items: Sequence[Item]) -> tuple[list[Row], list[wire.Reading]]:
    """Outbox rows of ``items``, and the wire readings among them (made once: a streamed
    value's id is random)."""
    rows, readings, _ = rows_readings_rr(items)
    return rows, readings


def rows_readings_rr(
    items: Sequence[Item],
) -> tuple[list[Row], list[wire.Reading], dict[str, tuple[float, ...]]]:
    """``rows_and_readings`` plus the RR intervals (s) of each heart-rate reading, by
    reading id: the wire reading does not carry them, the HRV of the rollups needs them."""
    rows: list[Row] = []
    readings: list[wire.Reading] = []
    rr: dict[str, tuple[float, ...]] = {}
    for item in items:
        if isinstance(item, wire.Event):
            rows.append(event_row(item))
        else:
            fresh = to_wire(item)
            readings += fresh
            rows += [(Kind.READING, wire.encode(r).decode(), r.measurement_id) for r in fresh]
            intervals = tuple(getattr(item.decoded, "rr_intervals", ()) or ())
            if intervals:
                rr.update((r.id, intervals) for r in fresh if r.metric is wire.Metric.HEART_RATE)
    return rows, readings, rr


def event_row(event: wire.Event) -> Row:
    return (Kind.EVENT, wire.encode(event).decode(), None)


def _verify_key(settings: GatewaySettings) -> signing.VerifyKey | None:
    if settings.downlink_key is None:
        return None
    try:
        return signing.load_public_key(settings.downlink_key)
    except signing.SigningError as exc:
        raise UplinkError(str(exc)) from exc


class Gateway:
    def __init__(
        self, settings: GatewaySettings, link: BleLink, *, wall: WallClock = _utcnow
    ) -> None:
        self.settings = settings
        self.link = link
        self.wall = wall
        self.outbox = Outbox(settings.outbox_path, budget_bytes=settings.outbox_budget_bytes)
        self.queue: asyncio.Queue[Item] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = 0
        self._waiting: set[asyncio.Task[None]] = set()
        self.verify_key = _verify_key(settings)
        self.refusals = Refusals()
        self.seen_commands = SeenCommands(settings.data_dir / "commands_seen.json")
        self.config_store = ConfigStore(settings.config_path)
        self.config = self.config_store.load()
        if self.config is not None and self.config.gateway_id != settings.gateway_id:
            log.error(
                "config.foreign_file",
                path=str(settings.config_path),
                advice="the data directory holds another gateway's config; it is ignored",
            )
            self.config = None
        self._accepted = self.config  # the newest config persisted (paho thread's view)
        self.rules_store = ConfigStore(settings.config_path.with_name("rules.json"))
        """The last config whose rule set this gateway could read: its rules run."""
        self.rule_set, self.rules_refused = self._startup_rules()
        self.devices = DeviceManager(
            link,
            data_dir=settings.data_dir,
            gateway_id=settings.gateway_id,
            sink=self._enqueue,
            events=self._event,
            clock_fn=wall,
            backoff_cap_s=settings.ble_reconnect_max_s,
            battery_readings=True,
        )
        self.edge = EdgeStage(self.rule_set.rules, rollups=settings.publish_rollups)
        if self.config is not None:
            self.devices.apply_pairings(self.config.pairings, origin="config")
        else:
            self.devices.apply_pairings(pairings_from_settings(settings.devices), origin="settings")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._results: OrderedDict[str, wire.CommandResult] = OrderedDict()
        self.uplink = Uplink(
            settings.mqtt,
            self.outbox,
            gateway_id=settings.gateway_id,
            status=self.status,
            batch_size=settings.batch_size,
            window=settings.window,
            ack_timeout_s=settings.ack_timeout_s,
            flush_interval_s=settings.flush_interval_s,
            status_interval_s=settings.status_interval_s,
            on_config=self._on_config,
            on_command=self._on_command,
            verify_key=self.verify_key,
            refusals=self.refusals,
            wall=wall,
        )

    def _enqueue(self, m: Measurement) -> None:
        try:
            self.queue.put_nowait(m)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("gateway.queue_full", device_id=m.device_id, dropped=self.dropped)

    def _event(self, event: wire.Event) -> None:
        """Loop thread: a device or pairing event for ``…/events``; never dropped, so when
        the queue is full it waits for room. The status follows at once."""
        log.info("gateway.event", kind=event.kind.value, code=event.code, device_id=event.device_id)
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            task = asyncio.get_running_loop().create_task(self.queue.put(event))
            self._waiting.add(task)
            task.add_done_callback(self._waiting.discard)
        self.uplink.publish_status()  # the device list or a device's state changed

    # ------------------------------------------------------------------ status
    def status(self) -> wire.Status:
        stats = self.outbox.stats(now=self.wall().timestamp())
        return wire.Status(
            gateway_id=self.settings.gateway_id,
            state=wire.GatewayState.ONLINE,
            ts=self.wall(),
            version=__version__,
            outbox_depth=stats.depth,
            outbox_oldest_age_s=stats.oldest_age_s,
            config_version=self.config.version if self.config else None,
            devices=self.devices.statuses(),
            downlink_verified=self.verify_key is not None,
            downlink_refused=self.refusals.summary,
            rule_set=self.rule_set.status(refused=self.rules_refused),
            counters=wire.OutboxCounters(**asdict(stats.counters)),
        )

    def local_state(self) -> dict[str, Any]:
        """What ``vitalgate-gateway status`` shows: the status message plus local figures."""
        state: dict[str, Any] = json.loads(wire.encode(self.status()))
        stats = self.outbox.stats(now=self.wall().timestamp())
        state.update(
            broker_connected=self.uplink.connected.is_set(),
            outbox_unpublished=stats.unpublished,
            outbox_bytes=stats.bytes_used,
            outbox_budget_bytes=stats.budget_bytes,
            outbox_thinned=stats.thinned,
            dropped_queue_full=self.dropped,
            pid=os.getpid(),
        )
        return state

    # ------------------------------------------------------------------ downlink
    def _on_config(self, config: wire.GatewayConfig) -> None:
        """paho thread: accept a newer config, persist it, then apply it on the loop."""
        decision = decide(self._accepted, config, gateway_id=self.settings.gateway_id)
        if decision.verdict is not Verdict.APPLY:
            if decision.verdict is not Verdict.SAME:  # the retained copy, again: not news
                self.uplink.refused("config", decision.reason)
            return
        rules = self._read_rules(config)
        self.config_store.save(config)  # durable before it takes effect
        if isinstance(rules, edge_rules.EdgeRuleSet):
            self.rules_store.save(config)
        self._accepted = config
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._apply_config, config, rules)

    def _read_rules(self, config: wire.GatewayConfig) -> edge_rules.EdgeRuleSet | str:
        """The config's rule set, or why this gateway cannot run it."""
        try:
            return edge_rules.from_config(config)
        except edge_rules.RuleSetError as exc:
            log.error(
                "config.rules_refused",
                version=config.version,
                reason=str(exc)[:200],
                advice="the last good rule set keeps running; update the gateway software",
            )
            return str(exc)

    def _startup_rules(self) -> tuple[edge_rules.EdgeRuleSet, tuple[int, str] | None]:
        """At start: the rules of the newest config if readable, else the last good ones."""
        good = self.rules_store.load()
        if good is not None and good.gateway_id != self.settings.gateway_id:
            good = None
        latest = self.config
        if latest is not None and (good is None or latest.version > good.version):
            rules = self._read_rules(latest)
            if isinstance(rules, edge_rules.EdgeRuleSet):
                self.rules_store.save(latest)  # a config kept from before there was a store
                return rules, None
            refused = (latest.version, rules)
        else:
            refused = None
        if good is None:
            return edge_rules.EMPTY, refused
        kept = self._read_rules(good)
        return (kept if isinstance(kept, edge_rules.EdgeRuleSet) else edge_rules.EMPTY), refused

    def _apply_config(
        self, config: wire.GatewayConfig, rules: edge_rules.EdgeRuleSet | str | None = None
    ) -> None:
        """Loop thread, no await: hand the pairings to the device manager and take the
        config in one step (devices no longer paired are released). A rule set this gateway
        cannot read leaves the last good one running, and the status says so."""
        if self.config is not None and config.version <= self.config.version:
            return
        self.devices.apply_pairings(config.pairings, origin="config")
        if rules is None:
            rules = self._read_rules(config)
        if isinstance(rules, edge_rules.EdgeRuleSet):
            self.edge.set_rules(rules.rules)
            self.rule_set, self.rules_refused = rules, None
            log.info(
                "config.rules_applied",
                version=config.version,
                rules=len(rules.rules),
                cloud_only=list(rules.cloud_only),
            )
        else:
            self.rules_refused = (config.version, rules)
        self.config = config
        log.info(
            "config.applied", version=config.version, devices=sorted(self.devices.store.devices)
        )
        self.uplink.publish_status()

    def _on_command(self, cmd: wire.Command) -> None:
        """paho thread: the BLE stage lives on the event loop, so the command runs there."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # loop closed at shutdown
                self._loop.call_soon_threadsafe(self._run_command, cmd)

    def _run_command(self, cmd: wire.Command) -> None:
        """Loop thread: run a command once and publish its result. With signatures checked,
        a command id seen before (or a command older than a day) is refused; the result of
        the first run, if still known, is sent again (QoS 1 may deliver a command twice)."""
        result = self._results.get(cmd.command_id)
        if self.verify_key is not None:
            reason = command_refusal(
                cmd, seen=cmd.command_id in self.seen_commands, now=self.wall()
            )
            if reason is not None:
                self.uplink.refused("commands", reason)
                if result is not None:
                    self.uplink.publish_result(result)
                return
            self.seen_commands.add(cmd, now=self.wall())  # before it runs: never twice
        if result is None:
            result = self._execute(cmd)
            self._results[cmd.command_id] = result
            while len(self._results) > REMEMBERED_COMMANDS:
                self._results.popitem(last=False)
            log.info("command.done", command=cmd.name, command_id=cmd.command_id, ok=result.ok)
        self.uplink.publish_result(result)

    def _execute(self, cmd: wire.Command) -> wire.CommandResult:
        """Gateway-wide commands (ping) answer from facts; the rest belong to the BLE stage."""
        now = self.wall()
        if cmd.name in remote_commands.HANDLERS:
            facts = remote_commands.GatewayFacts(
                gateway_id=self.settings.gateway_id,
                version=__version__,
                now=now,
                config_version=self.config.version if self.config else None,
                outbox_depth=self.outbox.stats().depth,
                devices=tuple(sorted(self.devices.store.devices)),
                rule_set=self.rule_set.status(refused=self.rules_refused),
            )
            return remote_commands.execute(cmd, facts)
        result = self.devices.handle_command(cmd)
        if cmd.name is wire.CommandName.SYNC_CLOCKS and result.ok:
            report = remote_commands.clock_report(cmd, now=now)
            result = result.model_copy(update={"result": {**result.result, **report}})
        return result

    # ------------------------------------------------------------------ stages

    async def _write_outbox(self) -> None:
        """Drain the queue through the signal stage into the outbox, one durable transaction
        per batch; with nothing queued, still close the minutes that are over."""
        while True:
            items: list[Item] = []
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(ROLLUP_CHECK_S):
                    items.append(await self.queue.get())
            while len(items) < WRITE_BATCH and not self.queue.empty():
                items.append(self.queue.get_nowait())
            if await asyncio.to_thread(self._store, items, self.wall().timestamp()):
                self.uplink.wake()

    def _store(self, items: Sequence[Item], now: float) -> int:
        """Worker thread: readings and device events, edge findings and finished rollups,
        committed together. The number of rows."""
        rows, readings, rr = rows_readings_rr(items)
        findings, rollups = self.edge.observe(readings, now=now, rr=rr)
        rows += [event_row(e) for e in findings]
        rows += [(Kind.ROLLUP, wire.encode(r).decode(), None) for r in rollups]
        if rows:
            self.outbox.add(rows, now=now)
        return len(rows)

    async def _write_state(self) -> None:
        """Keep ``status.json`` current for ``vitalgate-gateway status``."""
        while True:
            tmp = self.settings.state_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.local_state(), indent=2))
            tmp.replace(self.settings.state_path)
            await asyncio.sleep(STATE_INTERVAL_S)

    def _drain(self) -> None:
        """On shutdown, commit what is still queued so a clean stop loses nothing."""
        items = []
        while not self.queue.empty():
            items.append(self.queue.get_nowait())
        self.outbox.add(rows_of(items), now=self.wall().timestamp())

    async def run(self, *, background: Sequence[Coroutine[Any, Any, None]] = ()) -> None:
        """Run every stage until cancelled; ``background`` adds tasks (simulated devices)."""
        log.info(
            "gateway.start",
            gateway_id=self.settings.gateway_id,
            devices=len(self.devices.store.devices),
            config_version=self.config.version if self.config else None,
            downlink_verified=self.verify_key is not None,
        )
        if self.verify_key is None:
            log.warning(
                "gateway.downlink_unverified",
                advice="configs, commands and acks are applied without checking the cloud's "
                "signature; set downlink_key to the downlink-signing.pub of the cloud",
            )
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._loop = asyncio.get_running_loop()
        page = None
        try:
            if self.settings.web_port is not None:
                page = await web.serve(
                    self.devices,
                    self.settings.web_host,
                    self.settings.web_port,
                    household=lambda: people(self.settings.patients, self.config),
                    metrics=metrics.exposition(self.outbox, connected=self.uplink.connected.is_set),
                )
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.uplink.run(), name="uplink")
                tg.create_task(self._write_outbox(), name="outbox-writer")
                tg.create_task(self._write_state(), name="state")
                tg.create_task(self.devices.run(), name="ble")
                for i, coro in enumerate(background):
                    tg.create_task(coro, name=f"background-{i}")
        finally:
            if page is not None:
                page.close()
            self._drain()
            self.outbox.close()
            log.info("gateway.stop", gateway_id=self.settings.gateway_id)
