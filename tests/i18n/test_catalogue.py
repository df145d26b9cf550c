"""The German catalogue is complete: every message has a translation that is neither empty nor fuzzy, makemessages
finds no message the catalogue lacks (a string someone marks for translation without translating it fails here),
and the compiled catalogue the server loads is the one the .po file compiles to."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

PO = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
# Where the messages a person reads are: everything but what wizard.management.commands.makemessages leaves out.
SOURCE_TREES = ("config", "observability", "templates", "tenants", "wizard")
_LINE = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d\])?) "(.*)"$')

pytestmark = pytest.mark.skipif(
    shutil.which("msgfmt") is None, reason="GNU gettext (msgfmt, xgettext) is not installed: make system-deps"
)


def message_ids(po: Path) -> set[tuple[str, str]]:
    """(context, msgid) of every message of a .po file but its header."""
    ids, current, field = set(), {}, None
    for line in [*po.read_text(encoding="utf-8").splitlines(), ""]:
        if match := _LINE.match(line):
            field = match.group(1)
            if field == "msgctxt" or (field == "msgid" and "msgid" in current):
                if "msgid" in current:
                    ids.add((current.get("msgctxt", ""), current["msgid"]))
                current = {}
            current[field] = match.group(2)
        elif line.startswith('"') and field:
            current[field] += line[1:-1]
    if "msgid" in current:
        ids.add((current.get("msgctxt", ""), current["msgid"]))
    return {key for key in ids if key != ("", "")}


def test_every_message_is_translated_and_none_is_fuzzy():
    statistics = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(PO)], capture_output=True, text=True, check=True
    ).stderr
    assert "translated message" in statistics
    assert "fuzzy" not in statistics and "untranslated" not in statistics, statistics


def test_makemessages_finds_no_message_the_catalogue_lacks(tmp_path, settings, monkeypatch):
    """The project's makemessages (wizard.management.commands.makemessages) over a copy of the sources, into an
    empty locale folder: the messages the code and templates mark now. (makemessages writes beside the sources it
    reads, so it cannot run on the tree itself without touching locale/.) A msgid the catalogue lacks is a string
    nobody translated."""
    sources = Path(settings.BASE_DIR)
    copy = tmp_path / "onramp"
    for tree in SOURCE_TREES:
        shutil.copytree(sources / tree, copy / tree, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "locale").mkdir()
    monkeypatch.chdir(copy)
    settings.LOCALE_PATHS = [copy / "locale"]
    call_command("makemessages", locale=["de"], verbosity=0)
    marked = message_ids(copy / "locale" / "de" / "LC_MESSAGES" / "django.po")
    catalogue = message_ids(PO)
    assert len(marked) > 500
    assert marked - catalogue == set(), "marked for translation but not in locale/de (run makemessages, translate)"
    assert catalogue - marked == set(), "in locale/de but marked nowhere any more (run makemessages)"


def test_the_compiled_catalogue_is_the_po_file_compiled(tmp_path):
    compiled = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(compiled), str(PO)], check=True)
    assert MO.read_bytes() == compiled.read_bytes(), "locale/de/LC_MESSAGES/django.mo is stale: run compilemessages"


def test_the_parser_reads_contexts_plurals_and_continued_lines(tmp_path):
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: de\\n"\n\nmsgctxt "room list"\nmsgid "New"\nmsgstr "Neu"\n\n'
        'msgid ""\n"a long "\n"one"\nmsgstr ""\n\nmsgid "%(n)s room"\nmsgid_plural "%(n)s rooms"\n'
        'msgstr[0] ""\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    assert message_ids(po) == {("room list", "New"), ("", "a long one"), ("", "%(n)s room")}
