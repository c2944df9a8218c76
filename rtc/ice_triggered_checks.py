"""Triggered checks on pairs already in progress (RFC 8445 section 7.3.1.4), which aioice leaves out.

Through two NATs each end's first check to the other's public address is dropped by the other NAT,
until that side has sent through it too. When the other side's check then arrives, the RFC says to
cancel the check in progress on that pair and send a new one at once, which now gets through. aioice
keeps waiting for its retransmission, 500 ms later. As the offerer, aiortc is the controlling agent
and nominates aggressively: the first pair to succeed carries the stream. Meanwhile a pair through
the TURN relay could succeed first, and the stream went through the relay although the direct path
worked (seen once in CI: the Python viewer in the NAT lab's cone variant; 14 runs by hand did not
show it).

Private API (aioice 0.13): ``Connection.check_incoming``, ``_check_list``, ``check_start_task``,
``check_state``; ``CandidatePair.task``, ``.state``, ``.protocol``, ``.remote_addr``.
"""
from __future__ import annotations

import logging
from typing import Any

from aioice.ice import CandidatePair
from aiortc import RTCPeerConnection

from .ice_agent import ice_connection

logger = logging.getLogger(__name__)


def retrigger_in_progress_checks(pc: RTCPeerConnection) -> bool:
    """Make ``pc``'s ICE agent re-check a pair at once when the peer's check arrives on it while its
    own is still waiting for an answer (once per pair). False when aioice's internals are not as
    expected (nothing changed)."""
    connection = ice_connection(pc)
    incoming = getattr(connection, "check_incoming", None)
    if incoming is None or not all(hasattr(connection, name) for name in ("_check_list", "check_start_task",
                                                                           "check_state")):
        return False
    retriggered: set[int] = set()

    def check_incoming(message: Any, addr: tuple[str, int], protocol: Any) -> None:
        incoming(message, addr, protocol)
        for pair in connection._check_list:
            if (pair.protocol is protocol and pair.remote_addr == addr and id(pair) not in retriggered
                    and pair.state == CandidatePair.State.IN_PROGRESS and pair.task is not None):
                retriggered.add(id(pair))
                pair.task.cancel()  # its transaction ends with the task (aioice removes it)
                pair.task = None
                connection.check_state(pair, CandidatePair.State.WAITING)
                connection.check_start_task(pair)
                logger.debug("triggered a new check on %s", pair)

    connection.check_incoming = check_incoming
    return True
