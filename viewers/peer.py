"""One viewer's aiortc peer connection: its channels, its sender, its control messages, its end."""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from rtc.ice_gathering import cap_gathering
from rtc.ice_path import selected_path
from rtc.ice_triggered_checks import retrigger_in_progress_checks
from rtc.mdns_candidates import MdnsDeferral, defer_mdns_candidates, resolve_deferred
from rtc.peer_close import close_peer_connection
from rtc.sctp_congestion import LossTolerance, install_loss_tolerance
from stream.messages import camel
from stream.sinks import DataChannelSink
from stream.tasks import TaskSet

from .memory import release_soon
from .session import ViewerSession
from .settings import ViewerSettings

logger = logging.getLogger(__name__)

POINTS_LABEL = "points"
CONTROL_LABEL = "control"
_ids = itertools.count(1)


class ViewerPeer:
    """Owns one RTCPeerConnection. Closes itself when the connection fails, closes, or never connects."""

    def __init__(self, pc: RTCPeerConnection, settings: ViewerSettings,
                 on_closed: Callable[[ViewerPeer], None]) -> None:
        self.id = next(_ids)
        self.label = f"viewer-{self.id}"
        self.pc = pc
        self.settings = settings
        self.congestion: LossTolerance | None = None
        self.points: RTCDataChannel | None = None
        self.control: RTCDataChannel | None = None
        self.session: ViewerSession | None = None
        self._on_closed = on_closed
        self._tasks = TaskSet(self.label)
        self._closing = False
        self.on_connected: Callable[[ViewerPeer], None] | None = None
        """Called once when the connection is up (e.g. to log the candidate path)."""
        self._watch = settings.broadcaster.watching(share=None)
        """Held from the offer to the end: frames are produced while the connection comes up (how much of each
        is the session's sender's say, once it runs)."""
        pc.on("datachannel", self._on_datachannel)
        pc.on("connectionstatechange", self._on_state)
        self._spawn(self._connect_watchdog(settings.connect_timeout))
        if settings.silence_timeout is not None:
            self._spawn(self._silence_watchdog(settings.silence_timeout))

    # ----------------------------------------------------------------- lifecycle
    async def answer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        """Answer at once; the offer's mDNS candidates are resolved and added afterwards (rtc/mdns_candidates.py)."""
        deferral = defer_mdns_candidates(offer.sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=deferral.sdp, type=offer.type))
        if not cap_gathering(self.pc):
            logger.debug("%s: could not cap ICE gathering time (aiortc internals changed)", self.label)
        if not retrigger_in_progress_checks(self.pc):
            logger.debug("%s: could not add triggered checks (aioice internals changed)", self.label)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        if deferral.candidates:
            self._spawn(self._add_deferred_candidates(deferral))
        return self.pc.localDescription

    async def _add_deferred_candidates(self, deferral: MdnsDeferral) -> None:
        resolved = await resolve_deferred(deferral.candidates)
        if self._closing:
            return
        try:
            for candidate in resolved:
                await self.pc.addIceCandidate(candidate)
            if deferral.ended:
                await self.pc.addIceCandidate(None)
        except ValueError as exc:  # e.g. the connection was closed or reconfigured meanwhile
            logger.debug("%s: could not add resolved mDNS candidates: %s", self.label, exc)
            return
        logger.debug("%s: %d of %d mDNS candidates resolved", self.label, len(resolved), len(deferral.candidates))

    async def close(self) -> None:
        """End everything this viewer holds: its tasks, its peer connection, its slot. Never raises (but
        for cancellation), and the slot is given back whatever aiortc does while closing."""
        if self._closing:
            return
        self._closing = True
        try:
            self._tasks.cancel()
            await close_peer_connection(self.pc, self.label)
            logger.info("%s: closed (%s)", self.label,
                        self.session.sender.stats.as_dict() if self.session else "never streamed")
        finally:
            self._watch.release()
            self._on_closed(self)
            release_soon()  # what it held goes back to the system, not only to malloc's free lists

    def _spawn(self, coro: Any) -> None:
        self._tasks.spawn(coro)

    async def _connect_watchdog(self, timeout: float) -> None:
        await asyncio.sleep(timeout)
        if self.pc.connectionState != "connected":
            logger.warning("%s: not connected after %.0f s, closing", self.label, timeout)
            await self.close()

    async def _silence_watchdog(self, timeout: float) -> None:
        """Close a viewer that has said nothing on its control channel for ``timeout`` seconds.

        A viewer pings or reports at least once a second. One whose process was killed or whose network
        went away says nothing; ICE consent freshness would notice too, but only after about 30 s, and
        not at all when the association is alive at the ICE level but stuck above it.
        """
        interval = min(1.0, timeout / 4)
        while True:
            await asyncio.sleep(interval)
            session = self.session
            if session is not None and time.monotonic() - session.last_heard > timeout:
                logger.warning("%s: silent for %.0f s, closing", self.label, timeout)
                await self.close()
                return

    def _on_state(self) -> None:
        state = self.pc.connectionState
        logger.info("%s: connection %s", self.label, state)
        if state == "connected" and self.on_connected is not None:
            self.on_connected(self)
        if state in ("failed", "closed"):
            self._spawn(self.close())

    # ----------------------------------------------------------------- channels
    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label == POINTS_LABEL and self.points is None:
            self.points = channel
            logger.info("%s: points channel ordered=%s maxRetransmits=%s maxPacketLifeTime=%s", self.label,
                        channel.ordered, channel.maxRetransmits, channel.maxPacketLifeTime)
            channel.on("close", lambda: self._spawn(self.close()))
            tolerance = self.settings.loss_tolerance
            if tolerance is not None and (channel.maxRetransmits is not None or channel.maxPacketLifeTime is not None):
                # points may be lost by design on this channel: random loss must not throttle it
                self.congestion = install_loss_tolerance(self.pc.sctp, tolerance)
        elif channel.label == CONTROL_LABEL and self.control is None:
            self.control = channel
        else:
            logger.warning("%s: unexpected data channel %r closed", self.label, channel.label)
            channel.close()
            return
        if channel.readyState == "open":
            self._maybe_start()
        else:
            channel.on("open", self._maybe_start)

    def _maybe_start(self) -> None:
        if self.session is not None or self.points is None or self.control is None:
            return
        if self.points.readyState != "open" or self.control.readyState != "open":
            return
        self.session = ViewerSession(self.label, DataChannelSink(self.points), self._send_control, self.settings)
        self.control.on("message", self.session.on_control)
        self._spawn(self.session.run(self.id, "webrtc", self.points_channel()))

    def points_channel(self) -> dict[str, Any] | None:
        """How the viewer opened its point channel (W3C names), None before it has."""
        if self.points is None:
            return None
        return {"ordered": self.points.ordered, "maxRetransmits": self.points.maxRetransmits,
                "maxPacketLifeTime": self.points.maxPacketLifeTime}

    def _send_control(self, text: str) -> None:
        control = self.control
        if control is None or control.readyState != "open" or self._closing:
            return
        if control.bufferedAmount + len(text) > self.settings.outbox.max_chars:
            # aiortc queues what SCTP cannot send yet without bound: a viewer that sends but never
            # acknowledges would grow it for ever (docs/security.md, finding 2)
            logger.warning("%s: not reading (%d bytes of control messages wait): disconnecting", self.label,
                           control.bufferedAmount)
            self._spawn(self.close())
            return
        control.send(text)

    def path(self) -> dict[str, Any] | None:
        """The selected ICE candidate pair (rtc/ice_path.py), None before one is."""
        return selected_path(self.pc)

    def describe(self) -> dict[str, Any]:
        session = self.session
        return {"id": self.id, "transport": "webrtc", "state": self.pc.connectionState, "path": self.path(),
                "pointsChannel": self.points_channel(),
                "sender": session.sender.stats.as_dict() if session else None,
                "paused": session.sender.paused if session else False,
                "viewer": session.viewer_stats if session else {},
                "controlErrors": session.control_errors if session else 0,
                "congestion": {camel(k): v for k, v in self.congestion.describe().items()} if self.congestion else None}
