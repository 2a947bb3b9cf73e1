"""`caseload-bot teams package` through the console script's parser: the zip holds a manifest
the vendored Teams 1.29 schema accepts, two real PNG icons of the sizes Teams asks for, and a
command menu of things the bot reads as commands; a bad option writes nothing and says why."""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bot.cli import main
from bot.teams.package import (
    ACCENT,
    PLACEHOLDER_URL,
    Options,
    manifest,
)
from handlers.chat.commands import Caseload, Command, Help, LinkChannel, parse_message
from handlers.errors import BadLink

SCHEMA = json.loads((Path(__file__).parent / "teams-manifest-1.29.schema.json").read_text())
VALIDATOR = jsonschema.Draft6Validator(SCHEMA)
"""Draft 6, not the draft 4 the file names: it uses `const` (for `manifestVersion`), which
a draft 4 validator ignores."""

APP_ID = "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
MANIFEST_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
MAX_TITLE, MAX_DESCRIPTION = 32, 128
"""Teams' documented limits for a bot command; the schema allows more than Teams shows."""
GUID = re.compile(r"^[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}$")


def _package(tmp_path: Path, *options: str) -> tuple[int, Path]:
    out = tmp_path / "caseload-bot.zip"
    return main(["teams", "package", "--out", str(out), *options]), out


def _unzip(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
        files = {name: zf.read(name) for name in zf.namelist()}
    return json.loads(files.pop("manifest.json")), files


def test_a_package_teams_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _package(
        tmp_path,
        *("--app-id", APP_ID.upper()),
        *("--name", "Caseload (Stoke)"),
        *("--developer-name", "Stoke-on-Trent City Council"),
        *("--developer-url", "https://www.stoke.gov.uk/caseload-bot"),
        *("--privacy-url", "https://www.stoke.gov.uk/privacy"),
        *("--valid-domain", "bot.stoke.gov.uk", "--valid-domain", "BOT.stoke.gov.uk"),
    )
    assert code == 0
    data, icons = _unzip(out)
    VALIDATOR.validate(data)
    assert data["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert set(icons) == {"color.png", "outline.png"}, "the files at the zip's root"
    assert data["manifestVersion"] == "1.29"
    assert data["$schema"].endswith("/v1.29/MicrosoftTeams.schema.json")
    assert GUID.match(data["id"]) and data["id"] != APP_ID
    assert data["name"] == {"short": "Caseload (Stoke)"}
    assert data["developer"] == {
        "name": "Stoke-on-Trent City Council",
        "websiteUrl": "https://www.stoke.gov.uk/caseload-bot",
        "privacyUrl": "https://www.stoke.gov.uk/privacy",
        "termsOfUseUrl": "https://www.stoke.gov.uk/caseload-bot",
    }
    assert data["validDomains"] == ["bot.stoke.gov.uk"]
    [bot] = data["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team"]
    assert (bot["supportsFiles"], bot["isNotificationOnly"]) == (False, False)
    assert [c["scopes"] for c in bot["commandLists"]] == [["personal"], ["team"]]
    said = capsys.readouterr().err
    assert f"Teams app {data['id']} version 0.1.0 for bot {APP_ID.upper()}" in said
    assert PLACEHOLDER_URL not in said


def test_the_command_as_the_issue_gives_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only the app id: valid, a new Teams app id each time, and a note that its links
    are placeholders."""
    assert _package(tmp_path, "--app-id", APP_ID)[0] == 0
    first, _ = _unzip(tmp_path / "caseload-bot.zip")
    VALIDATOR.validate(first)
    assert set(first["developer"].values()) == {"caseload-bot", PLACEHOLDER_URL}
    assert first["validDomains"] == []
    assert f"placeholder {PLACEHOLDER_URL}" in capsys.readouterr().err
    assert _package(tmp_path, "--app-id", APP_ID)[0] == 0
    second, _ = _unzip(tmp_path / "caseload-bot.zip")
    assert second["id"] != first["id"]


def test_an_update_keeps_its_id_and_the_same_options_make_the_same_bytes(
    tmp_path: Path,
) -> None:
    options = ("--app-id", APP_ID, "--manifest-id", MANIFEST_ID, "--app-version", "1.2.3")
    assert _package(tmp_path, *options)[0] == 0
    once = (tmp_path / "caseload-bot.zip").read_bytes()
    data, _ = _unzip(tmp_path / "caseload-bot.zip")
    assert (data["id"], data["version"]) == (MANIFEST_ID, "1.2.3")
    assert _package(tmp_path, *options)[0] == 0
    assert (tmp_path / "caseload-bot.zip").read_bytes() == once


def _png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """(width, height, colour type, rows of pixels) of an 8-bit PNG with unfiltered rows (as
    the package's writer makes them), every chunk's CRC checked."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: list[tuple[bytes, bytes]] = []
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        at += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (depth, compression, filtering, interlace) == (8, 0, 0, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + width * {2: 3, 6: 4}[colour]
    assert len(raw) == stride * height
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert {row[0] for row in rows} == {0}
    return width, height, colour, [row[1:] for row in rows]


def test_the_icons_are_the_pngs_teams_asks_for(tmp_path: Path) -> None:
    assert _package(tmp_path, "--app-id", APP_ID)[0] == 0
    data, icons = _unzip(tmp_path / "caseload-bot.zip")

    width, height, colour, rows = _png(icons[data["icons"]["color"]])
    assert (width, height, colour) == (192, 192, 2)
    pixels = [row[i : i + 3] for row in rows for i in range(0, len(row), 3)]
    assert pixels[0] == pixels[-1] == bytes(ACCENT), "a full square of the accent colour"
    assert data["accentColor"] == "#" + bytes(ACCENT).hex().upper()
    assert b"\xff\xff\xff" in pixels, "and a white symbol"

    width, height, colour, rows = _png(icons[data["icons"]["outline"]])
    assert (width, height, colour) == (32, 32, 6)
    pixels = [row[i : i + 4] for row in rows for i in range(0, len(row), 4)]
    assert {p[:3] for p in pixels if p[3]} == {b"\xff\xff\xff"}, "white only"
    alphas = [p[3] for p in pixels]
    assert alphas[0] == alphas[-1] == 0, "a transparent background"
    assert max(alphas) == 255


BAD = [
    (["--app-id", "nope"], "--app-id 'nope' is not a GUID"),
    (["--app-id", ""], "--app-id '' is not a GUID"),
    (["--app-id", APP_ID + "0"], "is not a GUID"),
    (["--app-id", "{" + APP_ID + "}"], "is not a GUID"),
    (["--app-id", APP_ID, "--manifest-id", "42"], "--manifest-id '42' is not a GUID"),
    (["--app-id", APP_ID, "--app-version", "1.0"], "--app-version '1.0' is not MAJOR.MINOR.PATCH"),
    (["--app-id", APP_ID, "--name", "x" * 31], "--name must be 1 to 30 characters, not 31"),
    (["--app-id", APP_ID, "--developer-name", " "], "--developer-name must be 1 to 32"),
    (["--app-id", APP_ID, "--developer-url", "http://council.gov.uk"], "not an https:// address"),
    (["--app-id", APP_ID, "--terms-url", "council.gov.uk/terms"], "--terms-url 'council"),
    (["--app-id", APP_ID, "--valid-domain", "https://bot.council.gov.uk/"], "not a host name"),
]


@pytest.mark.parametrize(("options", "said"), BAD)
def test_a_bad_option_writes_nothing_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str], said: str
) -> None:
    code, out = _package(tmp_path, *options)
    assert code == 2
    assert not out.exists()
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("caseload-bot: ") and said in line


def test_a_zip_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "missing" / "caseload-bot.zip"
    assert main(["teams", "package", "--app-id", APP_ID, "--out", str(out)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith(f"caseload-bot: cannot write {out}: ")


MENU = manifest(Options(app_id=APP_ID, manifest_id=MANIFEST_ID, version="1.0.0"))["bots"][0][
    "commandLists"
]

READ_AS: dict[str, tuple[str, Command]] = {
    # title in the menu: (what is sent when it is picked, then completed; what the bot reads)
    "allocate": ("allocate", Help("allocate")),  # alone: its usage; a case ref follows
    "caseload": ("caseload", Caseload()),
    "what can I hold?": ("what can I hold?", Caseload()),
    # The one entry whose meaning is the start help, which any other text also gets.
    "help": ("help", Help("start")),
    "link this channel to team": ("link this channel to team T-1", LinkChannel("T-1")),
}


@pytest.mark.parametrize("title", sorted({c["title"] for m in MENU for c in m["commands"]}))
def test_every_command_in_the_menu_is_one_the_bot_reads(title: str) -> None:
    text, command = READ_AS[title]
    assert parse_message(text) == command
    assert command != Help("start") or title == "help"


def test_the_menus_fit_teams_and_offer_link_only_in_a_channel() -> None:
    personal, team = ({c["title"] for c in m["commands"]} for m in MENU)
    assert team == set(READ_AS)
    assert personal == team - {"link this channel to team"}  # in a 1:1 chat it is refused
    with pytest.raises(BadLink):  # picked and sent as it is: the link command, asking for a team
        parse_message("link this channel to team")
    for command in (c for m in MENU for c in m["commands"]):
        assert len(command["title"]) <= MAX_TITLE
        assert len(command["description"]) <= MAX_DESCRIPTION
