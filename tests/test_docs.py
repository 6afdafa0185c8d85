"""The README and docs/*.md: every relative link reaches a file, every #anchor a heading, and
the README's install and test commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# [text](target) and ![alt](target); the target ends at whitespace or ')' (titles ignored).
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE_SPAN = re.compile(r"`[^`]*`")


def _prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped (letters of
    any script, digits, '-' and '_' kept), each space a '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file; repeats get -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    out = set()
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        m = _HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[str]:
    """The link targets in a Markdown file's prose (not in code blocks or code spans)."""
    found = []
    for line in _prose_lines(path.read_text(encoding="utf-8")):
        found += _LINK.findall(_CODE_SPAN.sub("", line))
    return found


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """Relative links of ``path`` whose file is missing or outside the repository, and
    anchors that name no heading of their Markdown file."""
    broken = []
    for target in links(path):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.is_relative_to(root) or not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and (dest.suffix != ".md" or anchor not in anchors(dest)):
            broken.append(f"{target}: no heading #{anchor} in {dest.relative_to(root)}")
    return broken


def test_slug_matches_githubs_anchors():
    # Anchors GitHub gives these headings (read off github.com's rendered pages).
    assert slug("Quick start") == "quick-start"
    assert slug("A large class: several replicas behind a reverse proxy") == (
        "a-large-class-several-replicas-behind-a-reverse-proxy"
    )
    assert slug("1. Noise ε: the reparameterization trick (8 minutes)") == (
        "1-noise-ε-the-reparameterization-trick-8-minutes"
    )
    assert slug("ELBO vs log p(x): the EM view") == "elbo-vs-log-px-the-em-view"
    assert slug("`vae.train` and --flags") == "vaetrain-and---flags"


def test_the_docs_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in DOCS}
    assert {"README.md", "docs/teaching.md", "docs/deploying.md",
            "docs/training-at-scale.md"} <= names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_anchor_resolves(path):
    assert links(path) or path.name != "README.md"  # the README links to docs/
    assert broken_links(path) == []


def test_the_checker_finds_a_broken_file_a_broken_anchor_and_a_repeat(tmp_path):
    (tmp_path / "outside.md").write_text("# Outside\n", encoding="utf-8")
    tmp_path = tmp_path / "repo"
    tmp_path.mkdir()
    (tmp_path / "other.md").write_text("# Title\n\n## Part\n\n## Part\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "# Here\n[ok](other.md#part-1) [ok](#here) [web](https://example.com/x#y)\n"
        "[bad](missing.md) [bad](other.md#part-2) [bad](#nowhere) [bad](../outside.md)\n"
        "```\n[in code](also-missing.md)\n```\n`[span](nope.md)`\n",
        encoding="utf-8",
    )
    assert broken_links(page, root=tmp_path) == [
        "missing.md: no such file",
        "other.md#part-2: no heading #part-2 in other.md",
        "#nowhere: no heading #nowhere in page.md",
        "../outside.md: no such file",
    ]


def _readme_commands() -> list[str]:
    """The pip commands in the README's Quick start code blocks, without what follows '&&'."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quick, re.S)
    return [b.strip().split("&&")[0].strip() for b in blocks]


def test_ci_runs_the_readme_install_and_test_commands():
    install, test = _readme_commands()
    assert install.startswith("pip install") and "requirements.txt" in install
    assert "requirements-test.txt" in test
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    ci_pips = [line.split("pip install -q", 1)[1].strip()
               for line in ci.splitlines() if "pip install -q" in line]
    assert [c.removeprefix("pip install").strip() for c in (install, test)] == ci_pips
    assert "python -m pytest" in ci
