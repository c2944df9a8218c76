"""The one start-up check of the dependencies whose internals rtc/ reaches: their versions, and the names.

Every module here was written and tested against aiortc 1.16.0 and aioice 0.13.0 (requirements.txt
pins both). With another version each patch degrades to the dependency's own behaviour when a name it
needs is missing, and says so when it is used; this check says it once, at start-up, for all of them.
After an upgrade: run tests/test_congestion.py, test_reassembly.py, test_ice.py and the NAT lab, then
change WRITTEN_FOR.
"""
from __future__ import annotations

import asyncio
from importlib.metadata import version
from types import SimpleNamespace
from typing import Any

from . import ice_agent, sctp_congestion, sctp_reassembly

WRITTEN_FOR = {"aiortc": "1.16.0", "aioice": "0.13.0"}
"""Package → the version rtc/ was written for."""


def dependency_problems() -> list[str]:
    """What start-up should warn about, one sentence each; empty when all is as written for."""
    from aioice import Connection
    from aiortc.rtcsctptransport import RTCSctpTransport

    problems = [f"{name} {version(name)} is installed; rtc/ was written for {wanted}"
                for name, wanted in WRITTEN_FOR.items() if version(name) != wanted]

    async def fresh_sctp() -> Any:  # aiortc takes the running loop when a transport is made
        return RTCSctpTransport(SimpleNamespace(state="new", transport=None))

    loop = asyncio.new_event_loop()
    try:
        sctp = loop.run_until_complete(fresh_sctp())
    finally:
        loop.close()
    if missing := sctp_congestion.missing_internals(sctp):
        problems.append(f"aiortc's SCTP lacks {', '.join(missing)}: the point channel keeps standard SCTP "
                        "congestion control (rtc/sctp_congestion.py)")
    if not sctp_reassembly.supported(sctp):
        problems.append("aiortc's SCTP reassembly is not as expected: the Python viewer loses a message after each "
                        "lost last fragment (rtc/sctp_reassembly.py)")
    if missing := ice_agent.missing_internals(Connection):
        problems.append(f"aioice's Connection lacks {', '.join(missing)}: no ICE gathering cap, triggered checks or "
                        "selected path (rtc/ice_*.py)")
    return problems
