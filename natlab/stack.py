"""The product deployed in the NAT lab: coturn and the signaling server on the public host, the streamer
publishing from site A. Viewers run at site B (natlab.probe)."""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from lab.process import StreamerProcess
from lab.setup import BuiltOrClosed

from .coturn import Coturn
from .lab import PUBLIC_HOST, PUBLIC_INTERFACE, SIGNALING_PORT, TURN_PORT, NatLab

logger = logging.getLogger(__name__)

STREAM = "lab"
PRIVATE_RANGES = ("10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255")
"""Never relayed to, as on a public TURN server: the sites' LAN addresses are among these."""


@dataclass(frozen=True)
class StackOptions:
    turn_transport: str = "udp"
    """How both ends reach TURN: udp or tcp."""
    relay_only: bool = False
    stun: bool = True
    """Give both ends the STUN server (coturn answers STUN on the TURN port)."""
    stream_args: tuple[str, ...] = ("--quantize", "5", "--fps", "5")
    """Flags for the streamer: light enough that the lab's five namespaces share 2 cores."""
    sfu: bool = False
    """Janus beside the signaling server on the public host; viewers watch through it (--sfu janus)."""


class LabStack(BuiltOrClosed):
    """``with LabStack(lab, workdir) as stack:`` viewers open ``stack.viewer_url`` from site B."""

    def __init__(self, lab: NatLab, workdir: Path, options: StackOptions = StackOptions()) -> None:
        if options.turn_transport not in ("udp", "tcp"):
            raise ValueError(f"TURN transport must be udp or tcp, got {options.turn_transport!r}")
        self.lab = lab
        self.options = options
        self.workdir = workdir
        self.secret = secrets.token_hex(16)
        self.signaling_url = f"http://{PUBLIC_HOST}:{SIGNALING_PORT}"
        self.viewer_url = f"{self.signaling_url}/view/{STREAM}"
        turn = f"turn:{PUBLIC_HOST}:{TURN_PORT}" + ("?transport=tcp" if options.turn_transport == "tcp" else "")
        self.ice_flags = ["--stun", f"stun:{PUBLIC_HOST}:{TURN_PORT}"] if options.stun else []
        self.ice_flags += ["--turn", turn, "--turn-secret-file", str(workdir / "turn-secret")]
        if options.relay_only:
            self.ice_flags.append("--relay-only")
        self.coturn: Coturn | None = None
        self.signaling: StreamerProcess | None = None
        self.publisher: StreamerProcess | None = None

    def _build(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        secret_file = self.workdir / "turn-secret"
        secret_file.write_text(self.secret)
        secret_file.chmod(0o600)
        self.coturn = Coturn(PUBLIC_HOST, TURN_PORT, self.secret, self.workdir / "coturn",
                             allowed_peers="198.18.0.0-198.18.0.255", prefix=self.lab.prefix("pub"),
                             denied_peers=PRIVATE_RANGES)
        sfu = ["--sfu", "janus", "--sfu-ice", PUBLIC_INTERFACE] if self.options.sfu else []
        self.signaling = StreamerProcess([*self.ice_flags, *sfu], host=PUBLIC_HOST,
                                         prefix=self.lab.prefix("pub"), port=SIGNALING_PORT, command="signal",
                                         ready="Signaling.")
        # the streamer takes its ICE servers (and fresh TURN credentials) from the signaling server
        one_packet = ["--chunk-packets", "1"] if self.options.sfu else []  # Janus relays datagrams of 1,500 bytes
        self.publisher = StreamerProcess(["--signaling", self.signaling_url, "--stream", STREAM,
                                          *self.options.stream_args, *one_packet], prefix=self.lab.prefix("a"),
                                         listen=False)
        logger.info("lab stack up: viewers at site B open %s", self.viewer_url)

    def close(self) -> None:
        for part in (self.publisher, self.signaling, self.coturn):
            if part is not None:
                part.stop()
