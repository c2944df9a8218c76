"""ICE flags and TURN credentials: validation, minting, and a real coturn that accepts or refuses them."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint
from aiortc.rtcconfiguration import RTCIceTransportPolicy

from lab.process import free_port
from natlab.coturn import Coturn
from signaling.ice import JANUS_TURN_TTL, IceOptions, janus_servers, rest_credential, rtc_configuration
from tests.conftest import require, which


def test_rest_credentials_are_coturns_hmac_of_expiry_and_name() -> None:
    user, password = rest_credential("secret", "viewer@10.0.0.1", ttl=60, now=1_000_000)
    assert user == "1000060:viewer@10.0.0.1"
    expected = base64.b64encode(hmac.new(b"secret", user.encode(), hashlib.sha1).digest()).decode()
    assert password == expected


def test_janus_gets_the_viewers_stun_and_the_first_udp_turn_server_with_a_credential() -> None:
    assert janus_servers(IceOptions()) == ("", None)  # nothing outside unless configured
    ice = IceOptions(stun=["stun:stun.example.org"], turn=["turn:t.example.org:3479?transport=tcp",
                                                            "turn:t.example.org:3480"], turn_secret="s3cret")
    stun, turn = janus_servers(ice, now=1000.0)
    assert stun == "stun.example.org:3478"
    assert turn is not None and turn[:2] == ("t.example.org", 3480)
    assert (turn[2], turn[3]) == rest_credential("s3cret", "janus", JANUS_TURN_TTL, now=1000.0)
    fixed = IceOptions(turn=["turn:t.example.org"], turn_user="u", turn_pass="p")
    assert janus_servers(fixed) == ("", ("t.example.org", 3478, "u", "p"))
    assert janus_servers(IceOptions(turn=["turn:t.example.org?transport=tcp"], turn_user="u", turn_pass="p"))[1] is None


def test_each_connection_gets_its_own_credentials_with_the_secret() -> None:
    ice = IceOptions(stun=["stun:198.18.0.10"], turn=["turn:198.18.0.10:3478", "turns:turn.example:5349"],
                     turn_secret="s", turn_ttl=30)
    stun_server, turn = ice.servers("alice", now=100)
    assert stun_server.urls == "stun:198.18.0.10" and stun_server.username is None
    assert turn.urls == ["turn:198.18.0.10:3478", "turns:turn.example:5349"]
    assert turn.username == "130:alice" and turn.credential != ice.servers("bob", now=100)[1].credential
    fixed = IceOptions(turn=["turn:h"], turn_user="u", turn_pass="p")
    assert (fixed.servers()[0].username, fixed.servers()[0].credential) == ("u", "p")


def test_relay_only_reaches_both_ends() -> None:
    ice = IceOptions(turn=["turn:h?transport=tcp"], turn_user="u", turn_pass="p", relay_only=True)
    cfg = ice.client_config("x")
    assert cfg["iceTransportPolicy"] == "relay"
    rtc = rtc_configuration(cfg)
    assert rtc.iceTransportPolicy == RTCIceTransportPolicy.RELAY
    assert rtc.iceServers[0].urls == ["turn:h?transport=tcp"]


def test_no_ice_servers_is_an_explicit_empty_list() -> None:
    """aiortc would use a public STUN server if iceServers were None."""
    assert rtc_configuration({}).iceServers == []
    assert IceOptions().client_config() == {"iceServers": [], "iceTransportPolicy": "all"}


@pytest.mark.parametrize("kwargs, message", [
    ({"stun": ["turn:x"]}, "--stun expects"),
    ({"stun": ["stun:"]}, "--stun expects"),
    ({"turn": ["http://x"], "turn_secret": "s"}, "--turn expects"),
    ({"turn": ["turn:x?transport=sctp"], "turn_secret": "s"}, "--turn expects"),
    ({"turn": ["turns:x?transport=udp"], "turn_secret": "s"}, "TLS"),
    ({"turn": ["turn:x"]}, "needs credentials"),
    ({"turn": ["turn:x"], "turn_user": "u"}, "go together"),
    ({"turn": ["turn:x"], "turn_secret": "s", "turn_user": "u", "turn_pass": "p"}, "either"),
    ({"turn": ["turn:x"], "turn_secret": ""}, "must not be empty"),
    ({"turn_secret": "s"}, "without --turn"),
    ({"relay_only": True}, "needs a --turn"),
    ({"turn": ["turn:x"], "turn_secret": "s", "turn_ttl": 0}, "lifetime"),
])
def test_bad_ice_flags_say_what_is_wrong(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IceOptions(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("config, message", [
    ({"iceServers": "stun:x"}, "must be a list"),
    ({"iceServers": [{"url": "stun:x"}]}, "bad ICE server"),
    ({"iceTransportPolicy": "none"}, "iceTransportPolicy"),
])
def test_ice_configuration_from_the_wire_is_checked(config: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        rtc_configuration(config)


# ---------------------------------------------------------------- a real coturn, on loopback
SECRET = "lab-secret"


@pytest.fixture(scope="module")
def coturn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    require(which("turnserver") is not None, "coturn not installed (apt-get install coturn)")
    port = free_port()
    with Coturn("127.0.0.1", port, SECRET, Path(tmp_path_factory.mktemp("coturn")), "127.0.0.1"):
        yield "127.0.0.1", port


async def allocate(server: tuple[str, int], username: str, password: str, transport: str = "udp") -> tuple[str, int]:
    """A TURN allocation on ``server``: the relayed address, or TransactionFailed (e.g. 401)."""
    turn, _ = await asyncio.wait_for(create_turn_endpoint(
        asyncio.DatagramProtocol, server, username, password, transport=transport), 10)
    try:
        return turn.get_extra_info("sockname")  # type: ignore[no-any-return]
    finally:
        turn.close()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_coturn_accepts_fresh_minted_credentials(coturn: tuple[str, int], transport: str) -> None:
    user, password = rest_credential(SECRET, "viewer", ttl=60)
    relayed = await allocate(coturn, user, password, transport)
    assert relayed[0] == "127.0.0.1" and 49152 <= relayed[1] <= 49407


@pytest.mark.parametrize("credential", ["expired", "wrong secret", "tampered name"])
async def test_coturn_refuses_expired_or_wrong_credentials(coturn: tuple[str, int], credential: str) -> None:
    if credential == "expired":
        user, password = rest_credential(SECRET, "viewer", ttl=-5)
    elif credential == "wrong secret":
        user, password = rest_credential("not-the-secret", "viewer", ttl=60)
    else:
        user, password = rest_credential(SECRET, "viewer", ttl=60)
        user = user.replace("viewer", "someone-else")
    with pytest.raises(stun.TransactionFailed) as failure:
        await allocate(coturn, user, password)
    assert failure.value.response.attributes["ERROR-CODE"][0] == 401


async def test_an_unanswering_stun_server_holds_the_offer_for_the_cap_not_5_s() -> None:
    """Where UDP is blocked, STUN never answers: aioice would wait 5 s before the offer could go out."""
    import socket
    import time

    from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

    from rtc.ice_gathering import cap_gathering

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # receives, never answers
        silent.bind(("127.0.0.1", 0))
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[RTCIceServer(f"stun:127.0.0.1:{silent.getsockname()[1]}")]))
        try:
            pc.createDataChannel("points")
            assert cap_gathering(pc, timeout=1.0)
            start = time.monotonic()
            await pc.setLocalDescription(await pc.createOffer())
            elapsed = time.monotonic() - start
        finally:
            await pc.close()
    assert 0.9 <= elapsed < 3.0, elapsed
    assert "typ host" in pc.localDescription.sdp


async def test_a_check_the_peer_answers_with_its_own_is_sent_again_at_once() -> None:
    """Through two NATs a viewer's first check is dropped until the streamer has sent one its way
    (RFC 8445 section 7.3.1.4, rtc/ice_triggered_checks.py). Modelled here at the streamer: a check
    transaction of the viewer's whose first packet arrives before the streamer has sent a check from that
    socket to that address is lost whole, retransmissions included; one that starts after passes. The
    streamer's own checks are held until the viewer has tried that pair, so that the viewer's pair is always
    in progress when the streamer's check reaches it (the case the fix is for; an earlier version of this
    test let the two race and, under load, the viewer's pair was still waiting: aioice's own triggered
    check was then the first transaction, lost whole, and the test failed 4 times in 36).
    Mutation check: without retrigger_in_progress_checks the viewer does not connect within 10 s."""
    from aioice import stun
    from aiortc import RTCConfiguration, RTCPeerConnection

    from rtc.ice_agent import ice_connection
    from rtc.ice_triggered_checks import retrigger_in_progress_checks

    viewer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    streamer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    loop = asyncio.get_running_loop()
    try:
        channel = viewer.createDataChannel("control")
        opened = asyncio.Event()
        channel.on("open", opened.set)
        assert retrigger_in_progress_checks(viewer)
        await viewer.setLocalDescription(await viewer.createOffer())
        await streamer.setRemoteDescription(viewer.localDescription)
        agent = ice_connection(streamer)
        received = agent.request_received
        tried: set[tuple[tuple[str, int], int]] = set()  # (viewer address, streamer socket) the viewer checked
        nat_open: set[tuple[tuple[str, int], int]] = set()  # ... the streamer has sent a check through
        lost: set[bytes] = set()
        passed: list[bytes] = []

        def nat(message: stun.Message, addr: tuple[str, int], protocol: object) -> None:
            key = (addr, id(protocol))
            tried.add(key)
            if message.transaction_id in lost or (key not in nat_open and message.transaction_id not in passed):
                lost.add(message.transaction_id)
                return
            passed.append(message.transaction_id)
            received(message, addr, protocol)

        def hold_checks_until_tried(protocol: Any) -> None:
            send = protocol.send_stun
            deadline = loop.time() + 5

            def held(message: stun.Message, addr: tuple[str, int]) -> None:
                key = (addr, id(protocol))
                if message.message_class == stun.Class.REQUEST and key not in tried and loop.time() < deadline:
                    loop.call_later(0.01, held, message, addr)
                    return
                if message.message_class == stun.Class.REQUEST:
                    nat_open.add(key)
                send(message, addr)

            protocol.send_stun = held

        agent.request_received = nat
        await streamer.setLocalDescription(await streamer.createAnswer())
        for protocol in agent._protocols:
            hold_checks_until_tried(protocol)
        await viewer.setRemoteDescription(streamer.localDescription)
        await asyncio.wait_for(opened.wait(), 10)  # without the new check: none of the viewer's succeeds
        assert lost and passed  # the first transactions were lost; a later one, started at once, got through
        assert ice_connection(viewer)._nominated
    finally:
        await viewer.close()
        await streamer.close()
