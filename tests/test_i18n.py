"""German translations: pages render in German, and every catalogue is complete.

The catalogue checks parse the committed .po files directly (no gettext tools
needed) and guard future strings: a msgid added by `makemessages` without a
German msgstr, a left-over `#, fuzzy` flag, a lost placeholder, or a .po edited
without recompiling the committed .mo all fail here.
"""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

BASE_DIR = Path(settings.BASE_DIR)
PROJECT_PO = BASE_DIR / "locale" / "de" / "LC_MESSAGES" / "django.po"
# The project catalogue plus the apps' own catalogues (shop/cart, shop/orders).
ALL_PO = sorted(
    p
    for p in BASE_DIR.glob("**/locale/de/LC_MESSAGES/*.po")
    if not {".venv", "node_modules", "staticfiles"} & set(p.relative_to(BASE_DIR).parts)
)

_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")\s*$')
_PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]|%[sdif]|\{\w*\}|</?[a-zA-Z][^>]*>")


def _parse_po(path):
    """One dict per entry: flags, line (of its msgid), msgctxt/msgid/msgid_plural/msgstr/msgstr[n]."""
    entries, entry, key = [], {"flags": set()}, None
    lines = path.read_text(encoding="utf-8").splitlines() + [""]
    for number, line in enumerate(lines, 1):
        if not line.strip():
            if "msgid" in entry:
                entries.append(entry)
            entry, key = {"flags": set()}, None
        elif line.startswith("#~"):
            entry["obsolete"] = True
        elif line.startswith("#,"):
            entry["flags"].update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif match := _KEYWORD.match(line):
            key = match.group(1)
            entry[key] = ast.literal_eval(match.group(2))
            entry.setdefault("line", number)
        elif line.startswith('"') and key:
            entry[key] += ast.literal_eval(line.strip())
    return entries


def _translations(entry):
    return [value for key, value in entry.items() if key.startswith("msgstr")]


def _label(entry):
    return repr(entry["msgid"][:70])


@pytest.mark.django_db
def test_home_page_is_german_for_a_german_browser():
    response = Client().get("/", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9,en;q=0.5")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="de">' in html
    for german in (
        "Warenkorb",
        "Anmelden",
        "Registrieren",
        "Sprache",
        "Produkte suchen",
        "Preise inkl. MwSt.",
    ):
        assert german in html, german
    assert ">Cart <" not in html
    assert ">Log in<" not in html


@pytest.mark.django_db
def test_home_page_stays_english_by_default():
    html = Client().get("/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert ">Cart</span>" in html  # the header cart link's words for screen readers
    assert "Warenkorb" not in html


@pytest.mark.django_db
def test_login_page_is_german_with_the_language_cookie():
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert "Warenkorb" in html
    assert "Passwort" in html  # the login form itself (allauth's German catalogue)


def test_gettext_returns_german_for_core_labels():
    with translation.override("de"):
        assert translation.gettext("Cart") == "Warenkorb"
        assert translation.gettext("Log in") == "Anmelden"
        assert translation.gettext("Wallet") == "Guthabenkonto"
        assert translation.ngettext("%(counter)s product", "%(counter)s products", 3) % {"counter": 3} == (
            "3 Produkte"
        )


def test_the_project_catalogue_exists_and_is_found():
    assert PROJECT_PO in ALL_PO
    assert BASE_DIR / "locale" in [Path(p) for p in settings.LOCALE_PATHS]


@pytest.mark.parametrize("po_path", ALL_PO, ids=lambda p: str(p.relative_to(BASE_DIR)))
def test_every_msgid_has_a_german_translation(po_path):
    entries = [e for e in _parse_po(po_path) if e["msgid"] and not e.get("obsolete")]
    assert entries, f"{po_path} has no messages"
    problems = []
    for entry in entries:
        where = f"{po_path.name}:{entry['line']} {_label(entry)}"
        if "fuzzy" in entry["flags"]:
            problems.append(f"fuzzy: {where}")
        translations = _translations(entry)
        if not translations or not all(t.strip() for t in translations):
            problems.append(f"untranslated: {where}")
            continue
        sources = [entry["msgid"], entry.get("msgid_plural", "")]
        expected = set(_PLACEHOLDER.findall(" ".join(sources)))
        for text in translations:
            if set(_PLACEHOLDER.findall(text)) != expected:
                problems.append(f"placeholders differ: {where} -> {text!r}")
    header = next(e for e in _parse_po(po_path) if e["msgid"] == "")
    assert "fuzzy" not in header["flags"], (
        f"{po_path}: the header is marked fuzzy, so the .mo has no plural rule"
    )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("po_path", ALL_PO, ids=lambda p: str(p.relative_to(BASE_DIR)))
def test_compiled_mo_matches_the_po(po_path):
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path} is missing: run `manage.py compilemessages`"
    with mo_path.open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)
    stale = []
    for entry in _parse_po(po_path):
        if not entry["msgid"] or entry.get("obsolete") or "fuzzy" in entry["flags"]:
            continue
        msgid = entry["msgid"]
        if "msgctxt" in entry:
            got = [catalog.pgettext(entry["msgctxt"], msgid)]
            want = [entry.get("msgstr", "")]
        elif "msgid_plural" in entry:
            got = [catalog.ngettext(msgid, entry["msgid_plural"], n) for n in (1, 2)]
            want = [entry.get("msgstr[0]", ""), entry.get("msgstr[1]", "")]
        else:
            got, want = [catalog.gettext(msgid)], [entry.get("msgstr", "")]
        if all(want) and got != want:
            stale.append(_label(entry))
    assert not stale, f"{mo_path} is older than its .po (run compilemessages): " + ", ".join(stale[:10])


def test_server_error_page_speaks_the_shoppers_language(rf):
    from django.utils import translation

    from shop.views import server_error

    with translation.override("de"):
        response = server_error(rf.get("/p/anything/"))
    html = response.content.decode()
    assert response.status_code == 500
    assert 'lang="de"' in html and "Etwas ist schiefgelaufen" in html
