"""The documentation: README.md, docs/ and scenarios/README.md, read on GitHub and as a site.

The site is built for real (``mkdocs build --strict``, as ``make docs`` does), and a broken link
must fail that build. The links are also checked as the repository shows them: every relative
link names a file that exists, and every fragment a heading of that file as GitHub spells it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mkdocs_hooks

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: Every Markdown file of the site, by its path in the repository.
PAGES = [README, ROOT / "scenarios" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)")
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)


def build(config_dir: Path, site_dir: Path) -> subprocess.CompletedProcess[str]:
    """``mkdocs build --strict`` of the site whose mkdocs.yml is in ``config_dir``."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=config_dir, capture_output=True, text=True, timeout=120)


def github_slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation gone, each space a hyphen."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """A Markdown file's anchors: its headings' as GitHub makes them, and HTML ``<a id>``s."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    return ({github_slug(match[1]) for match in re.finditer(r"^#{1,6} (.+)$", text, re.M)}
            | set(re.findall(r'<a (?:id|name)="([^"]+)"', text)))


def relative_links(path: Path) -> list[str]:
    """The relative link targets of a Markdown file (outside code blocks and spans)."""
    text = path.read_text(encoding="utf-8")
    code = [span.span() for span in mkdocs_hooks.CODE.finditer(text)]
    return [link[1] for link in _LINK.finditer(text)
            if not mkdocs_hooks.in_code(link.start(), code)
            and not re.match(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/)", link[1])]


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    built = build(ROOT, tmp_path / "site")
    assert built.returncode == 0, built.stderr
    index = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    # README's repository links point at the site's pages.
    assert 'href="testing/#measured-2026-12-07-this-2-core-machine"' in index
    assert 'src="images/matrix.png"' in index
    scenarios = (tmp_path / "site" / "scenarios" / "index.html").read_text(encoding="utf-8")
    # scenarios/README.md joins the site, its link to ../docs/protocols.md pointing at the page.
    assert 'href="../protocols/"' in scenarios


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("mkdocs.yml", "mkdocs_hooks.py", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    shutil.copytree(ROOT / "docs", copy / "docs")
    (copy / "scenarios").mkdir()
    shutil.copy(ROOT / "scenarios" / "README.md", copy / "scenarios" / "README.md")
    (copy / "harness").mkdir()
    (copy / "harness" / "run.py").write_text("")  # exists, but is no page of the site
    broken = {"[gone](docs/no-such-page.md)": "docs/no-such-page.md",
              "[gone](docs/runs.md#no-such-heading)": "runs.md#no-such-heading",
              "[code](harness/run.py)": "harness/run.py"}
    with (copy / "README.md").open("a", encoding="utf-8") as readme:
        readme.write("\n" + "\n".join(broken) + "\n")
    built = build(copy, tmp_path / "site")
    assert built.returncode != 0
    warnings = [line for line in built.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == len(broken), built.stderr
    for named in broken.values():
        assert any(f"'{named}'" in warning for warning in warnings), built.stderr


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_link_works_in_the_repository(page: Path) -> None:
    for target in relative_links(page):
        path, _, fragment = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.is_file(), f"{page.relative_to(ROOT)}: {target}: no such file"
        if fragment and linked.suffix == ".md":
            assert fragment in anchors(linked), (
                f"{page.relative_to(ROOT)}: {target}: no such anchor as GitHub makes them")


def test_links_are_rewritten_from_repository_to_site_paths() -> None:
    def site(target: str, page: str, page_in_site: str) -> str:
        return mkdocs_hooks.rewrite_link(target, page, page_in_site, "docs", ROOT)

    assert site("docs/stall.md", "README.md", "index.md") == "stall.md"
    assert site("docs/images/matrix.png", "README.md", "index.md") == "images/matrix.png"
    assert site("scenarios/README.md#kind--stall", "README.md", "index.md") == (
        "scenarios.md#kind-stall")
    assert site("../docs/protocols.md", "scenarios/README.md", "scenarios.md") == "protocols.md"
    assert site("../README.md#the-two-commands", "docs/runs.md", "runs.md") == (
        "index.md#the-two-commands")
    assert site("#a---b", "docs/runs.md", "runs.md") == "#a-b"
    assert site("https://locust.io", "README.md", "index.md") == "https://locust.io"
    # Not in the site: left as written, for the strict build to name.
    assert site("harness/run.py", "README.md", "index.md") == "harness/run.py"
    assert site("docs/no-such-page.md", "README.md", "index.md") == "docs/no-such-page.md"
    code = "```\n[x](docs/stall.md)\n```\n`[x](docs/stall.md)` [x](docs/stall.md)\n"
    assert mkdocs_hooks.rewrite_links(code, "README.md", "index.md", "docs", ROOT) == (
        "```\n[x](docs/stall.md)\n```\n`[x](docs/stall.md)` [x](stall.md)\n")


def test_the_readme_is_short_and_names_ci_s_test_command() -> None:
    readme = README.read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    ci_commands = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
                   if line.strip() and not line.startswith("#")
                   and not line.startswith(("set ", "cd "))]
    assert ci_commands == ["make test"]
    assert "make test    #" in readme


def test_make_test_builds_the_docs_strictly_before_pytest() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    test_rule = re.search(r"^test: (.+)$", makefile, re.M)
    assert test_rule is not None and "docs" in test_rule[1].split()
    docs_rule = re.search(r"^docs: .*\n((?:\t.*\n)+)", makefile, re.M)
    assert docs_rule is not None and "mkdocs build --strict" in docs_rule[1]
    assert "site/" in (ROOT / ".gitignore").read_text().splitlines()


def test_pipes_escaped_in_table_code_show_without_their_backslash() -> None:
    markdown = "| `a\\|b` | c\\|d |\n`e\\|f`\n"
    assert mkdocs_hooks.unescape_table_code_pipes(markdown) == "| `a|b` | c\\|d |\n`e\\|f`\n"


def test_lists_indented_by_two_spaces_are_widened_for_the_site() -> None:
    nested = "* Loss:\n  - Owed: a\n    broadcast\n  - Lost\n\nAfter.\n  kept\n"
    assert mkdocs_hooks.widen_lists(nested) == (
        "* Loss:\n    - Owed: a\n        broadcast\n    - Lost\n\nAfter.\n  kept\n")
    four = "- a\n    - b\n"
    assert mkdocs_hooks.widen_lists(four) == four
    fenced = "- a\n  b\n```\n  code\n```\n"
    assert mkdocs_hooks.widen_lists(fenced) == "- a\n    b\n```\n  code\n```\n"
