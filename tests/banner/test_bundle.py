"""The banner bundle without a browser: size, ETag, caching, encodings, what the code must not do,
and the layout of its sources (every module listed once, no module using a later module's names)."""

from __future__ import annotations

import copy
import gzip
import re
import shutil
import subprocess

import brotli
import pytest

from consent_service.banner.build import site_file_config
from consent_service.banner.bundle import (
    MODULES,
    SOURCE_DIR,
    banner_version,
    module_paths,
    not_found_script,
    render_banner,
)
from tests.support import DEMO_TOML

GZIP_BUDGET = 8000


def demo_config(service: str = "http://127.0.0.1:5000", version: int = 1, keys: int = 1) -> dict:
    return site_file_config(DEMO_TOML, service, version, keys)


@pytest.mark.parametrize("keys", [1, 2], ids=["one key", "two keys, during a rotation"])
def test_demo_banner_fits_the_size_budget(keys):
    bundle = render_banner(demo_config("https://consent.example-shop.com", keys=keys))
    assert len(bundle.gzip) <= GZIP_BUDGET, f"{len(bundle.gzip)} bytes gzip"
    assert len(bundle.br) < len(bundle.gzip) < len(bundle.body)
    assert b"policy_hash" not in bundle.body, "the banner never reads it"


def test_encodings_decode_to_the_body():
    bundle = render_banner(demo_config())
    assert gzip.decompress(bundle.gzip) == bundle.body
    assert brotli.decompress(bundle.br) == bundle.body
    bundle.body.decode("ascii")  # ASCII only: no charset trouble on the shop's page


def test_etag_is_strong_stable_and_follows_the_config():
    config = demo_config()
    bundle = render_banner(config)
    assert re.fullmatch(r'"[0-9a-f]{64}"', bundle.etag)
    reordered = dict(reversed(list(copy.deepcopy(config).items())))
    assert render_banner(reordered).etag == bundle.etag
    assert render_banner(demo_config(version=2)).etag != bundle.etag
    assert render_banner(demo_config(service="http://other:5000")).etag != bundle.etag


def test_rendered_once_per_config():
    assert render_banner(demo_config()) is render_banner(demo_config())


def test_config_is_inlined_and_cannot_break_out():
    config = demo_config()
    config["texts"]["en"]["title"] = "</script><script>alert(1)</script>"
    body = render_banner(config).body
    assert b"</script>" not in body and b"<script>" not in body
    assert b'"policy_version":1' in body and b"Reject all" in body


def test_the_script_carries_what_its_first_view_and_toggles_need_and_no_more():
    """Cookie providers, purposes, lifetimes and the categories' descriptions come with the cookie
    declaration when a view needs them: every other page view does not pay for them."""
    config = demo_config()
    body = render_banner(config).body.decode()
    purpose = config["cookies"][0]["purpose"]["en"]
    description = config["texts"]["en"]["categories"]["analytics"]["description"]
    assert purpose not in body and description not in body
    assert config["texts"]["en"]["categories"]["analytics"]["title"] in body and '"_ga_*"' in body


def test_no_dynamic_code_or_html_sinks():
    body = render_banner(demo_config()).body.decode()
    for sink in ("eval(", "new Function", "Function(", "innerHTML", "outerHTML", "insertAdjacentHTML",
                 "document.write", "setTimeout('", 'setTimeout("', "setAttribute('on", "javascript:"):
        assert sink not in body, sink


def test_banner_version_fits_the_record():
    assert 1 <= len(banner_version()) <= 32


@pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
def test_bundle_is_valid_javascript(tmp_path):
    script = tmp_path / "banner.js"
    script.write_bytes(render_banner(demo_config()).body)
    subprocess.run(["node", "--check", str(script)], check=True)


def test_unknown_site_script_is_harmless():
    body = not_found_script("</script><img src=x onerror=alert(1)>").decode()
    assert body.startswith("console.warn(\"") and body.endswith("\");\n") and body.count("\n") == 1
    assert "<" not in body and "document" not in body


def test_served_banner(client, demo):
    """What the service sends: gzip within budget, strong ETag and 304, brotli when accepted."""
    response = client.get("/v1/sites/demo/banner.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and response.headers["Content-Encoding"] == "gzip"
    assert len(response.data) <= GZIP_BUDGET
    assert gzip.decompress(response.data).startswith(b"(function(C,CSS,V)")
    etag = response.headers["ETag"]
    assert client.get("/v1/sites/demo/banner.js", headers={"If-None-Match": etag}).status_code == 304
    br = client.get("/v1/sites/demo/banner.js", headers={"Accept-Encoding": "br, gzip"})
    assert br.headers["Content-Encoding"] == "br" and len(br.data) < len(response.data)
    missing = client.get("/v1/sites/nope/banner.js")
    assert missing.status_code == 404 and missing.data.startswith(b"console.warn(")


# ------------------------------------------------------------------------------ source layout
#
# The modules are joined into one function in the order of MODULES, so any of them could use any
# other's top-level names. The rule: a module uses only names declared in itself or in a module listed
# before it. The check below is a small tokenizer, not a JavaScript parser; it is enough for the
# banner's sources (no template literals, no destructuring at top level, semicolons after
# declarations) and says so when it meets something it does not handle. It does not model scopes: a
# local that reuses a later module's top-level name is reported too; rename it.

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
  | (?P<name>[A-Za-z_$][\w$]*)
  | (?P<number>\d[\w.]*)
  | (?P<punct>=>|\?\.|\.\.\.|[^\s\w$])
""", re.S | re.X)
# After these a '/' starts a regular expression literal, not a division.
_BEFORE_REGEX = {"return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw",
                 "instanceof", "yield", "await"}
_OPEN, _CLOSE = "([{", ")]}"


def _regex_end(source: str, start: int) -> int:
    """Index just after the regular expression literal starting at `start` (flags included)."""
    i, in_class = start + 1, False
    while i < len(source) and source[i] != "\n":
        c = source[i]
        if c == "\\":
            i += 1
        elif c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        elif c == "/" and not in_class:
            i += 1
            while i < len(source) and (source[i].isalnum() or source[i] == "_"):
                i += 1
            return i
        i += 1
    raise ValueError(f"unterminated regular expression at offset {start}")


def js_tokens(source: str) -> list[tuple[str, str]]:
    """(kind, text) for every token but spaces and comments; kinds: name, number, string, regex, punct."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(source):
        match = _TOKEN.match(source, pos)
        assert match is not None
        kind, text = match.lastgroup or "", match.group()
        if kind == "punct" and text in "'\"`":
            raise ValueError(f"unsupported or unterminated literal at offset {pos}: {source[pos:pos + 30]!r}")
        if kind == "punct" and text == "/":
            prev_kind, prev = tokens[-1] if tokens else ("punct", ";")
            if (prev_kind == "punct" and prev not in _CLOSE) or (prev_kind == "name" and prev in _BEFORE_REGEX):
                kind, text = "regex", source[pos:_regex_end(source, pos)]
        pos += len(text)
        if kind not in ("space", "comment"):
            tokens.append((kind, text))
    return tokens


def _matching(tokens: list[tuple[str, str]], i: int) -> int:
    """Index of the bracket closing the one at tokens[i]."""
    depth = 0
    for j in range(i, len(tokens)):
        kind, text = tokens[j]
        if kind == "punct" and text in _OPEN:
            depth += 1
        elif kind == "punct" and text in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
    raise ValueError("unbalanced brackets")


def top_level_names(source: str) -> set[str]:
    """Names a module declares at its top level: function declarations and var/let/const/class."""
    tokens, names, depth = js_tokens(source), set(), 0
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        prev = tokens[i - 1][1] if i else ";"
        if kind == "punct" and text in _OPEN:
            depth += 1
        elif kind == "punct" and text in _CLOSE:
            depth -= 1
        elif depth == 0 and kind == "name" and text in ("function", "class") and prev in (";", "}", "async"):
            j = i + 1 + (tokens[i + 1][1] == "*")
            names.add(tokens[j][1])
        elif depth == 0 and kind == "name" and text in ("var", "let", "const"):
            # Declarators up to the ';' at this level: a name, then anything up to the next ','.
            i += 1
            while True:
                name_kind, name = tokens[i]
                if name_kind != "name":
                    raise ValueError(f"unsupported declaration near {name!r} (destructuring?)")
                names.add(name)
                while tokens[i][1] not in (",", ";"):
                    i = _matching(tokens, i) + 1 if tokens[i][1] in _OPEN else i + 1
                if tokens[i][1] == ";":
                    break
                i += 1
        i += 1
    return names


def used_names(source: str) -> set[str]:
    """Names a module refers to, leaving out property accesses (x.name), object keys ({name: ...}),
    method names ({name() {...}}) and the names function expressions give themselves."""
    tokens, used = js_tokens(source), set()
    for i, (kind, text) in enumerate(tokens):
        if kind != "name":
            continue
        prev = tokens[i - 1][1] if i else ";"
        after = tokens[i + 1][1] if i + 1 < len(tokens) else ";"
        if prev in (".", "?.", "function"):
            continue
        if prev in ("{", ",") and after == ":":
            continue
        if prev in ("{", ",") and after == "(":
            close = _matching(tokens, i + 1)
            if close + 1 < len(tokens) and tokens[close + 1][1] == "{":
                continue
        used.add(text)
    return used


def layout_problems(modules: list[tuple[str, str]]) -> list[str]:
    """What breaks the rule in (file name, source) pairs given in join order: a top-level name
    declared twice, or a module using a top-level name that only a later module declares."""
    declared = [top_level_names(source) for _, source in modules]
    problems = []
    first_by_name: dict[str, str] = {}
    for (file, _), names in zip(modules, declared, strict=True):
        for name in sorted(names):
            if name in first_by_name:
                problems.append(f"{name} is declared in {first_by_name[name]} and again in {file}")
            first_by_name.setdefault(name, file)
    for k, (file, source) in enumerate(modules):
        later = {name: modules[j][0] for j in range(len(modules) - 1, k, -1) for name in declared[j]}
        for name in sorted(used_names(source) - declared[k]):
            if name in later:
                problems.append(f"{file} uses {name}, which the later {later[name]} declares")
    return problems


def banner_sources() -> list[tuple[str, str]]:
    return [(path.name, path.read_text(encoding="utf-8")) for path in module_paths(SOURCE_DIR / "src")]


def test_every_banner_source_is_listed_once():
    on_disk = sorted(path.name for path in (SOURCE_DIR / "src").glob("*.js"))
    assert sorted(MODULES) == on_disk and len(set(MODULES)) == len(MODULES)
    assert [name for name, _ in banner_sources()] == list(MODULES)


def test_unlisted_missing_or_twice_listed_sources_stop_the_build(tmp_path):
    for name in ("a.js", "b.js"):
        (tmp_path / name).write_text("var x;\n")
    assert module_paths(tmp_path, ("b.js", "a.js")) == [tmp_path / "b.js", tmp_path / "a.js"]
    with pytest.raises(RuntimeError, match="a.js is not listed"):
        module_paths(tmp_path, ("b.js",))
    with pytest.raises(RuntimeError, match="c.js is listed but missing"):
        module_paths(tmp_path, ("a.js", "b.js", "c.js"))
    with pytest.raises(RuntimeError, match="a.js is listed twice"):
        module_paths(tmp_path, ("a.js", "b.js", "a.js"))


def test_banner_modules_use_only_earlier_names():
    sources = banner_sources()
    assert layout_problems(sources) == []
    # Not vacuous: the check sees the shared names and who uses them.
    declared = {file: top_level_names(source) for file, source in sources}
    assert {"d", "h", "has", "normalize"} <= declared["core.js"]
    assert "has" in used_names(dict(sources)["held-back.js"])


def test_layout_check_catches_a_forward_reference():
    early = "/* Uses later() */\nfunction early() { return later() + 1; }\n"
    late = "var later = () => early(), other = 2;\n"
    assert layout_problems([("a.js", early), ("b.js", late)]) == ["a.js uses later, which the later b.js declares"]
    assert layout_problems([("b.js", late), ("a.js", early)]) == ["b.js uses early, which the later a.js declares"]
    assert layout_problems([("a.js", early.replace("later()", "0")), ("b.js", late)]) == []
    assert layout_problems([("a.js", "var other;\n"), ("b.js", late)]) == [
        "other is declared in a.js and again in b.js"]


def test_layout_check_ignores_strings_comments_properties_and_locals():
    early = """
        // later() is only mentioned here
        /* and later() here */
        var box = { later: 'later()', run() { return box.later; } }, re = /later\\/[/]/g;
        function early(x) { var y = "later"; return x.later + y + re.test('/later/') + box?.later; }
        function shadow() { return function later() {}; }
    """
    late = "function later() { return early(1) + box.later; }\n"
    assert top_level_names(early) == {"box", "re", "early", "shadow"}
    assert layout_problems([("a.js", early), ("b.js", late)]) == []
    with pytest.raises(ValueError, match="unsupported"):
        js_tokens("var s = `later`;")
