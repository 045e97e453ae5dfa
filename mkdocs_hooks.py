"""MkDocs hooks that make the repository's own Markdown files one documentation site.

README.md (the site's home page) and scenarios/README.md live outside ``docs/``, where
people browsing the repository expect them, and their links are written for the repository:
``docs/benchmarks.md``, ``../docs/protocols.md#socketio``, ``#kind--stall``. These hooks add the
two files to the site (:data:`PAGES_OUTSIDE_DOCS`) and rewrite every relative link of every page
so that it points at the same file in the site. A link to anything the site does not hold (a
missing file, or one outside docs/ such as source code) is left as written, so
``mkdocs build --strict`` fails on it instead of publishing a dead link. Its warning names the
page by its name in the site: ``index.md`` is README.md, ``scenarios.md`` is scenarios/README.md.

A pipe inside code in a table cell is escaped (``\\|``) for the repository's renderer, which
would split the cell there; MkDocs' tables never split inside code and would show the
backslash, so the hooks drop it there.

Lists are written with two spaces of indentation for a nested item or a continued paragraph,
as the repository's renderer takes them; MkDocs wants four, so such a list is indented twice as
deep for the site (:func:`widen_lists`).

Fragments are written as the repository's Markdown renderer makes them (``kind--stall``: each
space a hyphen); MkDocs' headings collapse runs of hyphens (``kind-stall``), so a fragment's
runs of hyphens are collapsed too, and a broken anchor still fails the strict build.
"""

from __future__ import annotations

import bisect
import posixpath
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

#: Markdown files outside docs/ that belong to the site: path in the repository -> page in the site.
PAGES_OUTSIDE_DOCS = {
    "README.md": "index.md",
    "scenarios/README.md": "scenarios.md",
}

#: An inline link or image, ``[text](target)`` or ``[text](target "title")``.
_LINK = re.compile(r"(?P<head>!?\[[^\]\n]*\]\()(?P<target>[^)\s]+)(?P<tail>(?:\s+\"[^\"\n]*\")?\))")
#: A target with a scheme (``https:``, ``mailto:``) or an absolute path is not rewritten.
_NOT_RELATIVE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|/)")
#: Fenced code blocks and inline code spans, whose text is code, not links.
#: (An inline span ends at its paragraph, so a stray backtick cannot hide the rest of the page.)
CODE = re.compile(r"^(?P<fence>```|~~~).*?^(?P=fence)[^\n]*$"
                  r"|(?P<ticks>`+)(?:(?!\n\n)[^`])+?(?P=ticks)", re.MULTILINE | re.DOTALL)

#: An inline code span on one line.
_INLINE_CODE = re.compile(r"(`+)[^`].*?\1")

#: A list item at the margin, and a fence line.
_LIST_ITEM = re.compile(r"^(?:[-*+]|\d+\.) ")
_FENCE_LINE = re.compile(r"^\s*(?:```|~~~)")


def repository_root(config: MkDocsConfig) -> Path:
    """The repository's root: the folder of mkdocs.yml."""
    return Path(config.config_file_path).resolve().parent


def site_path(repository_path: str, docs_dir: str) -> str | None:
    """Where a file given by its path in the repository is in the site, or None if not there.

    ``docs_dir`` is the docs folder's path in the repository (``docs``). Whether the file
    exists is not checked here.
    """
    if repository_path in PAGES_OUTSIDE_DOCS:
        return PAGES_OUTSIDE_DOCS[repository_path]
    prefix = docs_dir.rstrip("/") + "/"
    if repository_path.startswith(prefix):
        return repository_path[len(prefix):]
    return None


def collapse_fragment(fragment: str) -> str:
    """A repository-style heading fragment as MkDocs spells it (runs of hyphens collapsed)."""
    return re.sub(r"-{2,}", "-", fragment)


def rewrite_link(target: str, page_repository_path: str, page_site_path: str,
                 docs_dir: str, root: Path) -> str:
    """``target``, written in the page at ``page_repository_path``, as the site page must write it.

    ``root`` is the repository's root folder. Targets that are not relative, or name a file
    that does not exist or that the site does not hold, come back unchanged but for their
    fragment.
    """
    if _NOT_RELATIVE.match(target):
        return target
    path, hash_mark, fragment = target.partition("#")
    fragment = collapse_fragment(fragment)
    if not path:
        return f"#{fragment}" if hash_mark else target
    in_repository = posixpath.normpath(
        posixpath.join(posixpath.dirname(page_repository_path), path))
    in_site = site_path(in_repository, docs_dir)
    if in_site is None or not (root / in_repository).is_file():
        return path + hash_mark + fragment
    relative = posixpath.relpath(in_site, posixpath.dirname(page_site_path) or ".")
    return relative + hash_mark + fragment


def rewrite_links(markdown: str, page_repository_path: str, page_site_path: str,
                  docs_dir: str, root: Path) -> str:
    """Every relative link of a page's Markdown rewritten by :func:`rewrite_link`.

    Code (fenced blocks and inline spans) is left alone.
    """
    code = [span.span() for span in CODE.finditer(markdown)]

    def rewrite(match: re.Match[str]) -> str:
        if in_code(match.start(), code):
            return match.group(0)
        target = rewrite_link(match["target"], page_repository_path, page_site_path, docs_dir,
                              root)
        return match["head"] + target + match["tail"]

    return _LINK.sub(rewrite, markdown)


def in_code(position: int, code: list[tuple[int, int]]) -> bool:
    """Whether ``position`` lies in one of the ``code`` spans (sorted ``(start, end)`` pairs)."""
    index = bisect.bisect_right(code, (position, float("inf"))) - 1
    return index >= 0 and code[index][0] <= position < code[index][1]


def unescape_table_code_pipes(markdown: str) -> str:
    """``\\|`` as ``|`` in the code spans of table rows (lines that start with ``|``)."""
    def unescape(span: re.Match[str]) -> str:
        return span.group(0).replace("\\|", "|")

    return "\n".join(_INLINE_CODE.sub(unescape, line) if line.lstrip().startswith("|") else line
                     for line in markdown.split("\n"))


def widen_lists(markdown: str) -> str:
    """Lists indented by two or three spaces, indented twice as deep (MkDocs wants four).

    A list runs from a line that starts with a marker (``-``, ``*``, ``+``, ``1.``) at the
    margin to the first line at the margin, after a blank line, that is no marker (a lazy
    continuation has no blank line before it). Fenced code is never changed, and a fence at
    the margin ends a list.
    """
    lines = markdown.split("\n")
    in_fence: list[bool] = []
    fenced = False
    for line in lines:
        fence_line = bool(_FENCE_LINE.match(line))
        fenced = fenced != fence_line
        in_fence.append(fenced or fence_line)
    blocks: list[tuple[int, int]] = []
    start: int | None = None
    for number, line in enumerate(lines):
        if _LIST_ITEM.match(line) and not in_fence[number]:
            start = number if start is None else start
        elif start is not None and line[:1].strip() and (
                in_fence[number] or not lines[number - 1].strip()):
            blocks.append((start, number))
            start = None
    if start is not None:
        blocks.append((start, len(lines)))
    for first, end in blocks:
        body = [number for number in range(first, end)
                if not in_fence[number] and lines[number].startswith(" ")]
        indents = [_indent(lines[number]) for number in body if lines[number].strip()]
        if indents and min(indents) < 4:
            for number in body:
                lines[number] = " " * _indent(lines[number]) + lines[number]
    return "\n".join(lines)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    """Add the pages that live outside docs/ (:data:`PAGES_OUTSIDE_DOCS`)."""
    root = repository_root(config)
    for repository_path, page in PAGES_OUTSIDE_DOCS.items():
        files.append(File.generated(config, page, abs_src_path=str(root / repository_path)))
    return files


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig,
                     files: Files) -> str:
    """The page as MkDocs must read it: links to site paths, table code and lists adapted."""
    root = repository_root(config)
    docs_dir = Path(config.docs_dir).resolve().relative_to(root).as_posix()
    source = page.file.abs_src_path
    if source is None:
        return markdown
    page_repository_path = Path(source).resolve().relative_to(root).as_posix()
    markdown = rewrite_links(markdown, page_repository_path, page.file.src_uri, docs_dir, root)
    return widen_lists(unescape_table_code_pipes(markdown))
