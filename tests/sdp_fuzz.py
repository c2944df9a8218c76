"""Offers for the offer fuzzer: real offers (aiortc's, Chromium's) with their structure mutated.

The mutations are those that broke the answer path before (an ``m=`` line in upper case made aiortc's
``createAnswer`` and then its ``close`` raise) and their relatives: m-line case and order, removed and
duplicated sections, foreign media sections, candidate floods, bad fingerprints, huge attributes, bad
numbers, roles, BUNDLE groups and connection lines, truncation.

Network safety: every candidate the server could send a connectivity check to is a loopback address
(``sanitize`` runs after the mutations too), and no host name is ever put where a candidate address
goes, so nothing is resolved and nothing leaves the machine.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import strategies as st

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHROMIUM_OFFERS = FIXTURES / "chromium_offers.json"
"""Offers Debian's Chromium made (tests/test_browser.py writes them again with UPDATE_FIXTURES=1)."""

_CANDIDATE = re.compile(r"^(a=candidate:\S*\s+\S+\s+\S+\s+\S+\s+)(\S+)(.*)$", re.IGNORECASE)


def sanitize(sdp: str) -> str:
    """Every candidate address becomes loopback (IPv6 ones ``::1``), so that checks stay on this machine."""
    lines = []
    for line in sdp.replace("\r\n", "\n").split("\n"):
        m = _CANDIDATE.fullmatch(line)
        if m is not None:
            host = "::1" if ":" in m.group(2) else "127.0.0.1"
            line = f"{m.group(1)}{host}{m.group(3)}"
        lines.append(line)
    return "\r\n".join(lines).rstrip("\r\n") + "\r\n"


def chromium_offers() -> dict[str, str]:
    """The committed Chromium offers by name, sanitized."""
    return {name: sanitize(sdp) for name, sdp in json.loads(CHROMIUM_OFFERS.read_text()).items()}


def split(sdp: str) -> tuple[list[str], list[list[str]]]:
    """Session-level lines and the media sections (each starting with its ``m=`` line, any case)."""
    session: list[str] = []
    sections: list[list[str]] = []
    for line in sdp.replace("\r\n", "\n").split("\n"):
        if not line:
            continue
        if line[:2].lower() == "m=":
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            session.append(line)
    return session, sections


def join(session: list[str], sections: list[list[str]]) -> str:
    return "\r\n".join([*session, *(line for s in sections for line in s)]) + "\r\n"


FOREIGN_SECTIONS = [
    ["m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 0.0.0.0", "a=rtpmap:96 VP8/90000", "a=sendrecv", "a=rtcp-mux"],
    ["m=audio 0 RTP/AVP 0"],
    ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=rtpmap:111 opus/48000/2", "a=recvonly"],
    ["m=text 9 RTP/AVP 98", "a=rtpmap:98 t140/1000"],
    ["m=image 9 udptl t38"],
    ["m=message 9 TCP/MSRP *"],
    ["m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=sctp-port:5000"],
    ["m=application 9 DTLS/SCTP 5000", "a=sctpmap:5000 webrtc-datachannel 1024"],
    ["m=video 9 UDP/TLS/RTP/SAVPF"],
    ["m=application 0 UDP/DTLS/SCTP webrtc-datachannel"],
]
CREDENTIAL_PREFIXES = ("a=ice-ufrag:", "a=ice-pwd:", "a=fingerprint:", "a=setup:")
junk = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=40)
numbers = st.sampled_from(["-1", "0", "1", "65535", "65536", "4294967296", "99999999999999999999", "1e9", "x", ""])


@st.composite
def candidate_line(draw: st.DrawFn) -> str:
    """A candidate attribute, well formed or not, whose address is always loopback."""
    host = draw(st.sampled_from(["127.0.0.1", "::1"]))
    fields = [
        draw(st.sampled_from(["1", "foundation", "", "0" * 40])),
        draw(st.sampled_from(["1", "2", "0", "99999"])),
        draw(st.sampled_from(["udp", "tcp", "UDP", "sctp", "x"])),
        draw(st.sampled_from(["2113937151", "1", "0", "-5", "99999999999999999999"])),
        host,
        draw(st.sampled_from(["9", "0", "1", "5000", "65535", "70000", "-1"])),
        "typ", draw(st.sampled_from(["host", "srflx", "relay", "prflx", "foo"])),
    ]
    extra = draw(st.sampled_from(["", " raddr 127.0.0.1 rport 9", " tcptype active", " tcptype x",
                                  " generation 0 network-cost 999", " raddr", " ufrag abc"]))
    line = "a=candidate:" + " ".join(fields) + extra
    cut = draw(st.integers(0, 3))  # sometimes a field short
    return line if cut else " ".join(line.split(" ")[:draw(st.integers(1, 9))])


@st.composite
def mutate(draw: st.DrawFn, sdp: str) -> tuple[str, str]:
    """``(what was done, the mutated offer)``."""
    session, sections = split(sdp)
    done: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(OPERATIONS))
        note = op(draw, session, sections)
        done.append(f"{op.__name__}({note})")
    return "; ".join(done), sanitize(join(session, sections))


def _section(draw: st.DrawFn, sections: list[list[str]]) -> int | None:
    return draw(st.integers(0, len(sections) - 1)) if sections else None


def case(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    i = _section(draw, sections)
    if i is None:
        return "no section"
    line = sections[i][0]
    how = draw(st.sampled_from(["M=", "upper", "kind", "proto"]))
    if how == "M=":
        line = "M=" + line[2:]
    elif how == "upper":
        line = line.upper()
    elif how == "kind":
        kind, _, rest = line[2:].partition(" ")
        line = "m=" + kind.upper() + " " + rest
    else:
        line = line.lower()
    sections[i][0] = line
    return f"{i} {how}"


def reorder(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    order = draw(st.permutations(range(len(sections))))
    sections[:] = [sections[j] for j in order]
    return str(order)


def remove(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    i = _section(draw, sections)
    if i is not None:
        del sections[i]
    return str(i)


def duplicate(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    i = _section(draw, sections)
    if i is None:
        return "no section"
    at = draw(st.integers(0, len(sections)))
    sections.insert(at, list(sections[i]))
    return f"{i} at {at}"


def foreign(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    section = list(draw(st.sampled_from(FOREIGN_SECTIONS)))
    mid = draw(st.sampled_from(["9", "0", "x" * 300, ""]))
    if draw(st.booleans()):
        section.append(f"a=mid:{mid}")
    if sections and draw(st.booleans()):  # credentials of a real section, so that it gets further
        section += [line for line in sections[0] if line.startswith(CREDENTIAL_PREFIXES)]
    if draw(st.booleans()):
        session[:] = [f"{line} {mid}" if line.startswith("a=group:BUNDLE") else line for line in session]
    sections.insert(draw(st.integers(0, len(sections))), section)
    return f"{section[0]!r} mid {mid[:5]!r}"


def candidates(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    i = _section(draw, sections)
    if i is None:
        return "no section"
    count = draw(st.sampled_from([1, 5, 50, 400]))
    template = draw(candidate_line())
    flood = [template] * count if draw(st.booleans()) else [draw(candidate_line()) for _ in range(min(count, 20))]
    sections[i][1:1] = flood
    if draw(st.booleans()):
        sections[i].append("a=end-of-candidates")
    return f"{len(flood)} in {i}"


def fingerprint(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    how = draw(st.sampled_from(["remove", "algorithm", "value", "second", "empty"]))
    bad_value = draw(st.sampled_from(["AB:CD", "zz:" * 31 + "zz", "", "AB" * 64, "ab:cd:ef" * 20]))
    algorithm = draw(st.sampled_from(["sha-1", "sha-512", "md5", "sha-999", "", "SHA-256"]))
    for lines in [session, *sections]:
        for j, line in reversed(list(enumerate(lines))):
            if not line.startswith("a=fingerprint:"):
                continue
            alg, _, value = line[len("a=fingerprint:"):].partition(" ")
            if how == "remove":
                del lines[j]
            elif how == "algorithm":
                lines[j] = f"a=fingerprint:{algorithm} {value}"
            elif how == "value":
                lines[j] = f"a=fingerprint:{alg} {bad_value}"
            elif how == "second":
                lines.insert(j + 1, f"a=fingerprint:{algorithm} {bad_value}")
            else:
                lines[j] = "a=fingerprint:"
    return how


def huge(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    size = draw(st.sampled_from([1_000, 10_000, 30_000]))
    what = draw(st.sampled_from(["a=ice-ufrag:", "a=ice-pwd:", "a=mid:", "a=x-junk:", "a=group:BUNDLE ",
                                 "a=msid-semantic: WMS ", "a=ssrc:1 cname:", "a=rtpmap:96 "]))
    value = " ".join(["0"] * (size // 2)) if what.endswith(" ") else "x" * size
    target = sections[_section(draw, sections) or 0] if sections and draw(st.booleans()) else session
    target.append(what + value)
    return f"{what!r} {size}"


def _line(draw: st.DrawFn, sections: list[list[str]]) -> tuple[int, int] | None:
    """A section and one of its lines after the m= line, None when there is none."""
    i = _section(draw, sections)
    if i is None or len(sections[i]) < 2:
        return None
    return i, draw(st.integers(1, len(sections[i]) - 1))


def drop_line(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    if (at := _line(draw, sections)) is None:
        return "nothing"
    return sections[at[0]].pop(at[1])[:30]


def number(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    i = _section(draw, sections)
    if i is None:
        return "no section"
    value = draw(numbers)
    where = draw(st.sampled_from(["port", "sctp-port", "max-message-size", "formats"]))
    lines = sections[i]
    if where == "port":
        parts = lines[0].split(" ")
        if len(parts) > 1:
            parts[1] = value
        lines[0] = " ".join(parts)
    elif where == "formats":
        lines[0] = " ".join(lines[0].split(" ")[:3] + [value, value])
    else:
        lines[:] = [line for line in lines if not line.startswith(f"a={where}:")] + [f"a={where}:{value}"]
    return f"{where}={value!r} in {i}"


def setup_role(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    role = draw(st.sampled_from(["actpass", "active", "passive", "holdconn", "", "sideways", None]))
    for lines in sections:
        lines[:] = [line for line in lines if not line.startswith("a=setup:")]
        if role is not None:
            lines.append(f"a=setup:{role}")
    return repr(role)


def bundle(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    how = draw(st.sampled_from(["remove", "missing", "empty", "twice", "other"]))
    groups = [line for line in session if line.startswith("a=group:")]
    rest = [line for line in session if not line.startswith("a=group:")]
    insert = {"remove": [], "missing": ["a=group:BUNDLE 7 8 9"], "empty": ["a=group:BUNDLE"],
              "twice": groups + groups, "other": ["a=group:LS 0 1"]}[how]
    session[:] = rest[:4] + insert + rest[4:]
    return how


def connection(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    line = draw(st.sampled_from(["c=IN IP6 ::", "c=", "c=IN IP4", "c=garbage", "c=IN IP4 300.1.1.1"]))
    for lines in sections:
        lines[:] = [line if x.startswith("c=") else x for x in lines]
    return line


def ice(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    how = draw(st.sampled_from(["no ufrag", "no pwd", "short", "spaces", "lite", "options"]))
    for lines in sections:
        if how == "no ufrag":
            lines[:] = [x for x in lines if not x.startswith("a=ice-ufrag:")]
        elif how == "no pwd":
            lines[:] = [x for x in lines if not x.startswith("a=ice-pwd:")]
        elif how == "short":
            lines[:] = ["a=ice-ufrag:a" if x.startswith("a=ice-ufrag:") else x for x in lines]
        elif how == "spaces":
            lines[:] = ["a=ice-pwd:a b c" if x.startswith("a=ice-pwd:") else x for x in lines]
        elif how == "options":
            lines.append("a=ice-options:" + draw(junk))
    if how == "lite":
        session.append("a=ice-lite")
    return how


def truncate(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    i = _section(draw, sections)
    if i is None:
        return "no section"
    keep = draw(st.integers(1, len(sections[i])))
    del sections[i + 1:]
    del sections[i][keep:]
    return f"section {i} after {keep} lines"


def random_text(draw: st.DrawFn, session: list[str], sections: list[list[str]]) -> str:
    if (at := _line(draw, sections)) is None:
        return "nothing"
    i, j = at
    line = sections[i][j]
    if line.lower().startswith("a=candidate"):
        return "spared a candidate"
    name, sep, _ = line.partition(":")
    sections[i][j] = name + (sep or ":") + draw(junk)
    return name


OPERATIONS = [case, reorder, remove, duplicate, foreign, candidates, fingerprint, huge, drop_line, number,
              setup_role, bundle, connection, ice, truncate, random_text]
