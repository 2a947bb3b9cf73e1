"""The Teams app package: `manifest.json` (schema 1.29) and its two icons, zipped as the
Teams admin centre and the Developer Portal upload it.

Pure: the caller supplies everything that varies (the manifest's own id included), and the
same options give the same bytes, so a package can be rebuilt and compared. The icons are
drawn here rather than committed, so that no binary file or imaging library is needed.
"""

from __future__ import annotations

import io
import json
import math
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

MANIFEST_VERSION = "1.29"
SCHEMA_URL = (
    "https://developer.microsoft.com/en-us/json-schemas/teams/v1.29/MicrosoftTeams.schema.json"
)
PLACEHOLDER_URL = "https://example.com"
"""The developer's website when none is given: a reserved domain (as Microsoft's own
templates use), so that a try-out package is valid and plainly not a real page."""
DEFAULT_NAME = "Caseload bot"
DEFAULT_DEVELOPER = "caseload-bot"
ACCENT = (0x1F, 0x5C, 0x99)
COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"
COLOR_SIZE = 192
OUTLINE_SIZE = 32

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_SEMVER = re.compile(r"^(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)$")
_HOST = re.compile(r"^(?:\*\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$")


class PackageError(ValueError):
    """An option the package cannot be made with; the message names it."""


@dataclass(frozen=True, slots=True)
class BotCommand:
    title: str
    """What Teams types into the compose box when the command is picked from the menu."""
    description: str
    channel_only: bool = False


COMMANDS = (
    BotCommand(
        "allocate",
        "Check a case against a person: allocate C-1042 to @Sam as lead. "
        "With just the case: who in your team can take it.",
    ),
    BotCommand(
        "caseload", "A caseload against the cap: caseload (your own), caseload @Sam, caseload team."
    ),
    BotCommand(
        "what can I hold?", "Your month of the ASYE, children against the cap, what you can hold."
    ),
    BotCommand("help", "What the bot understands, with examples."),
    BotCommand(
        "link this channel to team",
        "Managers: send a team's alerts to this channel, e.g. link this channel to team T-1.",
        channel_only=True,
    ),
)
"""The menu Teams shows; every title is a command `handlers.chat.parse_message` reads."""


@dataclass(frozen=True, slots=True)
class Options:
    app_id: str
    """The Azure Bot's Microsoft App ID: the bot this app talks to."""
    manifest_id: str
    """The Teams app's own id; the same id again updates an uploaded app in place."""
    version: str
    name: str = DEFAULT_NAME
    developer_name: str = DEFAULT_DEVELOPER
    developer_url: str = PLACEHOLDER_URL
    privacy_url: str | None = None
    """Default: the developer's website."""
    terms_url: str | None = None
    """Default: the developer's website."""
    valid_domains: Sequence[str] = ()


def manifest(options: Options) -> dict[str, Any]:
    """The manifest, or PackageError naming (by the command's flag) the first option Teams
    would refuse."""
    for flag, value in (("--app-id", options.app_id), ("--manifest-id", options.manifest_id)):
        if not _GUID.match(value):
            raise PackageError(
                f"{flag} {value!r} is not a GUID (like 00000000-0000-0000-0000-000000000000)"
            )
    if not _SEMVER.match(options.version):
        raise PackageError(f"--app-version {options.version!r} is not MAJOR.MINOR.PATCH")
    name = _text("--name", options.name, 30)
    developer = _text("--developer-name", options.developer_name, 32)
    website = _https("--developer-url", options.developer_url)
    privacy = _https("--privacy-url", options.privacy_url or website)
    terms = _https("--terms-url", options.terms_url or website)
    for host in options.valid_domains:
        if not _HOST.match(host):
            raise PackageError(
                f"--valid-domain {host!r} is not a host name (like bot.council.gov.uk,"
                " without https:// or a path)"
            )
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": options.version,
        "id": options.manifest_id.lower(),
        "developer": {
            "name": developer,
            "websiteUrl": website,
            "privacyUrl": privacy,
            "termsOfUseUrl": terms,
        },
        "name": {"short": name},
        "description": {
            "short": "Checks allocations against the ASYE protected-caseload policy",
            "full": (
                "Checks each allocation to a newly qualified social worker against the"
                " council's ASYE policy at the moment it is made: Allowed, Co-work only or"
                " Not allowed, with the policy clause, the caseload against the cap and when"
                " it would be allowed. Ask it who can take a case, what a worker can hold, or"
                " how your team stands; record the allocation, or request an exception, from"
                " the answer's buttons."
            ),
        },
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": "#{:02X}{:02X}{:02X}".format(*ACCENT),
        "bots": [
            {
                "botId": options.app_id.lower(),
                "scopes": ["personal", "team"],
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [
                    _command_list("personal", [c for c in COMMANDS if not c.channel_only]),
                    _command_list("team", COMMANDS),
                ],
            }
        ],
        # The asker's identity, and 1:1 messages to team members: answers asked for in a
        # channel, and notices to other people, are sent to them privately.
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": list(dict.fromkeys(h.lower() for h in options.valid_domains)),
    }


def package(options: Options) -> bytes:
    """The zip to upload: the manifest and both icons at its root, as Teams requires."""
    files = {
        "manifest.json": (json.dumps(manifest(options), indent=2) + "\n").encode(),
        COLOR_ICON: _color_icon(),
        OUTLINE_ICON: _outline_icon(),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            # A fixed date, so that the same options make the same bytes; readable by all.
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            zf.writestr(info, data, zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _command_list(scope: str, commands: Sequence[BotCommand]) -> dict[str, Any]:
    return {
        "scopes": [scope],
        "commands": [{"title": c.title, "description": c.description} for c in commands],
    }


def _text(flag: str, value: str, limit: int) -> str:
    text = value.strip()
    if not text or len(text) > limit:
        raise PackageError(f"{flag} must be 1 to {limit} characters, not {len(text)}")
    return text


def _https(flag: str, url: str) -> str:
    if not re.match(r"^https://[^\s/]+", url) or len(url) > 2048:
        raise PackageError(f"{flag} {url!r} is not an https:// address")
    return url


# The icons: a tick in a ring, white on the accent colour (color.png) and white on
# transparent (outline.png), drawn with anti-aliased strokes.


def _color_icon() -> bytes:
    """192x192, the symbol inside Teams' 120-pixel safe area on a full accent square."""
    cover = _symbol(ring=0.28, stroke=0.045, size=COLOR_SIZE)
    rows = []
    for y in range(COLOR_SIZE):
        row = bytearray()
        for x in range(COLOR_SIZE):
            a = cover(x, y)
            row += bytes(round(c + (255 - c) * a) for c in ACCENT)
        rows.append(bytes(row))
    return _png(COLOR_SIZE, COLOR_SIZE, rows, alpha=False)


def _outline_icon() -> bytes:
    """32x32, white strokes on transparency: Teams tints it, so it must hold no colour."""
    cover = _symbol(ring=0.42, stroke=0.07, size=OUTLINE_SIZE)
    rows = [
        b"".join(bytes((255, 255, 255, round(255 * cover(x, y)))) for x in range(OUTLINE_SIZE))
        for y in range(OUTLINE_SIZE)
    ]
    return _png(OUTLINE_SIZE, OUTLINE_SIZE, rows, alpha=True)


_TICK = ((0.34, 0.52), (0.45, 0.63), (0.67, 0.39))


def _symbol(ring: float, stroke: float, size: int) -> Callable[[int, int], float]:
    """Pixel (x, y) of a `size` icon -> how much of it the ring and the tick cover."""
    half = stroke * size / 2

    def cover(x: int, y: int) -> float:
        px, py = (x + 0.5) / size, (y + 0.5) / size
        to_ring = abs(math.hypot(px - 0.5, py - 0.5) - ring)
        to_tick = min(_to_segment(px, py, a, b) for a, b in pairwise(_TICK))
        distance = min(to_ring, to_tick) * size
        return min(1.0, max(0.0, half - distance + 0.5))

    return cover


def _to_segment(px: float, py: float, a: tuple[float, float], b: tuple[float, float]) -> float:
    (ax, ay), (bx, by) = a, b
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - ax - t * dx, py - ay - t * dy)


def _png(width: int, height: int, rows: Sequence[bytes], *, alpha: bool) -> bytes:
    """An 8-bit RGB or RGBA PNG of `rows` (each `width` pixels), unfiltered."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    colour_type = 6 if alpha else 2
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    pixels = b"".join(b"\x00" + row for row in rows)  # filter type 0 (None) on every row
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels, 9))
        + chunk(b"IEND", b"")
    )
