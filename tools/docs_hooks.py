"""Build hooks for the documentation site (``mkdocs.yml`` loads this file twice).

As MkDocs hooks (``hooks:`` in mkdocs.yml):

- ``on_config``: expands glob entries of the nav (``recipes/**/*.md``) into the pages
  that exist, and drops the nav entries of the pages in :data:`PENDING` that do not
  exist yet. Every other page named in the nav must exist, and every page in docs/
  must be in the nav (``validation.nav.omitted_files: warn`` + ``--strict``).
- ``on_files``: files outside docs/ that a page links to with ``../`` (the benchmark
  plots in benchmarks/results/) are copied into the site under ``_repo/``.
- ``on_page_markdown``: architecture.md's module pictures are redrawn from the code's
  imports (tools/module_graph.py); state-machine.md's diagram is replaced by a fresh
  ``anyoauth._core.machine.state_diagram()`` between the ``state-diagram`` markers, so
  the site's diagram is drawn from the transition table at build time
  (tests/test_docs.py keeps the committed copy equal to it); links to ``../`` files
  point at their ``_repo/`` copies; links to missing pending pages become plain text.

As a Griffe extension (``extensions:`` of the mkdocstrings Python handler),
:class:`AnyoauthDocstrings`:

- turns the reStructuredText the docstrings use into Markdown: ``:class:`Token``` and
  the other Python roles become optional cross-references (a link where the target is
  documented, code otherwise), and ``::`` literal blocks become fenced code blocks;
- gives attrs classes the ``__init__`` attrs generates (Griffe reads source and sees
  none), so their signatures show their parameters and their ``Args:`` sections are
  checked against them.
"""

from __future__ import annotations

import ast
import html
import importlib
import inspect
import logging
import posixpath
import re
import textwrap
from pathlib import Path
from typing import Any

import attrs
import griffe
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from anyoauth._core.machine import state_diagram

try:
    from module_graph import GRAPHS, module_graph  # tools/ (this file's directory)
except ImportError:  # loaded by path: tools/ is not on sys.path
    import sys as _sys

    _sys.path.insert(0, str(Path(__file__).resolve().parent))
    from module_graph import GRAPHS, module_graph

log = logging.getLogger("mkdocs.hooks.anyoauth")

PENDING: tuple[str, ...] = ()
"""Pages other work adds. While one is missing its nav entry is dropped and links to it
are unlinked (an info line says so); once it exists it is built like any other page.
A directory (ending in ``/``) covers every page under it."""

PUBLIC_MODULES: tuple[str, ...] = (
    "anyoauth",
    "anyoauth.sansio",
    "anyoauth.stores",
    "anyoauth.providers",
    "anyoauth.agents",
    "anyoauth.testing",
    "anyoauth.plugins",
)
"""Every name in these modules' ``__all__`` must be rendered in the API reference
(docs/reference/): the build fails naming any that is not."""

REPO_FILES_DIR = "_repo"
"""Where files outside docs/ that pages link to are copied in the site."""

DIAGRAM_BEGIN = "<!-- state-diagram:begin -->"
DIAGRAM_END = "<!-- state-diagram:end -->"
DIAGRAM_PAGE = "state-machine.md"

# A Markdown link or image target: ](target) or ](target "title").
_LINK = re.compile(r"(?P<open>!?\[[^\]]*\]\()(?P<target>[^)\s]+)(?P<rest>[^)]*\))")
_TEXT_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)[^)]*\)")


# -- nav ---------------------------------------------------------------------------------


def _is_pending(uri: str) -> bool:
    return any(uri == p or (p.endswith("/") and uri.startswith(p)) for p in PENDING)


def _pages(docs_dir: Path, pattern: str) -> list[str]:
    found = sorted(
        p.relative_to(docs_dir).as_posix() for p in docs_dir.glob(pattern) if p.is_file()
    )
    # A section's index page comes first.
    return sorted(found, key=lambda uri: (posixpath.dirname(uri), Path(uri).stem != "index"))


def _expand(items: list[Any], docs_dir: Path) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, dict):
            ((title, value),) = item.items()
            if isinstance(value, list):
                children = _expand(value, docs_dir)
                if children:
                    out.append({title: children})
                else:
                    log.info("nav: section %r has no pages yet; left out", title)
                continue
            if isinstance(value, str) and not _keep(value, docs_dir):
                continue
            out.append(item)
        elif isinstance(item, str) and "*" in item:
            pages = _pages(docs_dir, item)
            if not pages:
                log.info("nav: no pages match %r yet", item)
            out.extend(pages)
        elif isinstance(item, str) and not _keep(item, docs_dir):
            continue
        else:
            out.append(item)
    return out


def _keep(uri: str, docs_dir: Path) -> bool:
    if "://" in uri or (docs_dir / uri).is_file() or not _is_pending(uri):
        return True
    log.info("nav: pending page %s does not exist yet; left out", uri)
    return False


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    if config.nav is not None:
        config.nav = _expand(config.nav, Path(config.docs_dir))
    return config


# -- files outside docs/ -----------------------------------------------------------------


def _repo_target(page_uri: str, target: str, docs_dir: Path) -> str | None:
    """The repository path (relative to the repo root) of a link that leaves docs/."""
    if "://" in target or target.startswith(("#", "/", "mailto:")):
        return None
    path, _, _ = target.partition("#")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), path))
    if not joined.startswith("../"):
        return None
    root = docs_dir.parent.resolve()
    absolute = (docs_dir / joined).resolve()
    if not absolute.is_relative_to(root) or not absolute.is_file():
        return None
    return absolute.relative_to(root).as_posix()


def on_files(files: Files, config: MkDocsConfig) -> Files:
    docs_dir = Path(config.docs_dir)
    root = docs_dir.parent.resolve()
    for page in list(files.documentation_pages()):
        if page.abs_src_path is None:
            continue
        text = Path(page.abs_src_path).read_text(encoding="utf-8")
        for match in _LINK.finditer(text):
            repo_path = _repo_target(page.src_uri, match["target"], docs_dir)
            uri = f"{REPO_FILES_DIR}/{repo_path}"
            if repo_path is not None and files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(root / repo_path)))
    return files


# -- pages -------------------------------------------------------------------------------


def _fresh_diagram(markdown: str) -> str:
    begin, end = markdown.find(DIAGRAM_BEGIN), markdown.find(DIAGRAM_END)
    if begin < 0 or end < begin:
        raise PluginError(
            f"{DIAGRAM_PAGE} must hold the state diagram between {DIAGRAM_BEGIN} and "
            f"{DIAGRAM_END}; the docs build draws it there from the transition table"
        )
    committed = markdown[begin + len(DIAGRAM_BEGIN) : end].strip("\n")
    fresh = f"```mermaid\n{state_diagram()}```"
    if committed != fresh:
        log.info("%s: the committed diagram is out of date; the site shows the table", DIAGRAM_PAGE)
    return f"{markdown[: begin + len(DIAGRAM_BEGIN)]}\n{fresh}\n{markdown[end:]}"


GRAPH_PAGE = "architecture.md"


def _fresh_module_graphs(markdown: str) -> str:
    """architecture.md's module pictures, redrawn from the code (tools/module_graph.py)."""
    for name, container in GRAPHS.items():
        begin, end = f"<!-- module-graph:{name}:begin -->", f"<!-- module-graph:{name}:end -->"
        start, stop = markdown.find(begin), markdown.find(end)
        if start < 0 or stop < start:
            raise PluginError(
                f"{GRAPH_PAGE} must hold the {name} module graph between {begin} and {end}"
            )
        fresh = f"```mermaid\n{module_graph(container)}```"
        if markdown[start + len(begin) : stop].strip("\n") != fresh:
            log.info(
                "%s: the committed %s graph is out of date; the site shows the code",
                GRAPH_PAGE,
                name,
            )
        markdown = f"{markdown[: start + len(begin)]}\n{fresh}\n{markdown[stop:]}"
    return markdown


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    uri = page.file.src_uri
    if uri == DIAGRAM_PAGE:
        markdown = _fresh_diagram(markdown)
    if uri == GRAPH_PAGE:
        markdown = _fresh_module_graphs(markdown)
    docs_dir = Path(config.docs_dir)

    def to_copy(match: re.Match[str]) -> str:
        repo_path = _repo_target(uri, match["target"], docs_dir)
        if repo_path is None:
            return match[0]
        _, hash_, anchor = match["target"].partition("#")
        relative = posixpath.relpath(f"{REPO_FILES_DIR}/{repo_path}", posixpath.dirname(uri) or ".")
        return f"{match['open']}{relative}{hash_}{anchor}{match['rest']}"

    def unlink_pending(match: re.Match[str]) -> str:
        target = match["target"].partition("#")[0]
        if not target or "://" in target or target.startswith("mailto:"):
            return match[0]
        linked = posixpath.normpath(posixpath.join(posixpath.dirname(uri), target))
        if not _is_pending(linked) or files.get_file_from_path(linked) is not None:
            return match[0]
        log.info("%s: pending page %s does not exist yet; link left out", uri, linked)
        return match["text"]

    markdown = _LINK.sub(to_copy, markdown)
    return _TEXT_LINK.sub(unlink_pending, markdown)


# -- every public name in the API reference ---------------------------------------------

_ANCHOR = re.compile(r'\bid="(?P<id>anyoauth[\w.]*)"')
_rendered: set[str] = set()


def on_pre_build(config: MkDocsConfig) -> None:
    _rendered.clear()


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri.startswith("reference/"):
        _rendered.update(m["id"] for m in _ANCHOR.finditer(html))
    return html


def on_post_build(config: MkDocsConfig) -> None:
    for module_name in PUBLIC_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError:
            continue
        for name in getattr(module, "__all__", ()):
            if f"{module_name}.{name}" not in _rendered:
                log.warning(
                    "%s.%s is public but not in the API reference: add `::: %s.%s` "
                    "to its page in docs/reference/",
                    module_name,
                    name,
                    module_name,
                    name,
                )


# -- docstrings --------------------------------------------------------------------------

_ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|attr|data|const|exc|obj|mod):"
    r"`(?P<tilde>~?)(?:(?P<title>[^`<]+?)\s*<(?P<target>[^`>]+)>|(?P<plain>[^`]+))`"
)
_FENCE = re.compile(r"^\s*(```|~~~)")


def _role_to_markdown(obj: griffe.Object, match: re.Match[str]) -> str:
    target = (match["target"] or match["plain"]).strip().lstrip(".")
    head, _, tail = target.partition(".")
    try:
        resolved = obj.resolve(head)
    except (griffe.NameResolutionError, griffe.AliasResolutionError):
        identifier = target
    else:
        identifier = f"{resolved}.{tail}" if tail else resolved
    if match["title"]:
        shown = match["title"]
    elif match["tilde"]:
        shown = target.rpartition(".")[2]
    else:
        shown = target
    if match["role"] in {"meth", "func"}:
        shown += "()"
    # autorefs turns this into a link when the identifier is documented on the site,
    # and into plain code otherwise (builtins, private helpers), without a warning.
    return (
        f'<autoref identifier="{html.escape(identifier)}" optional>'
        f"<code>{html.escape(shown)}</code></autoref>"
    )


def _language(block: str) -> str:
    try:
        compile(block, "<docstring>", "exec", ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError:
        return "text"
    return "python"


def _literal_blocks(text: str) -> str:
    """reStructuredText ``paragraph::`` + indented block -> ``paragraph:`` + fenced block."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.rstrip()
        if not stripped.endswith("::") or i + 1 >= len(lines) or lines[i + 1].strip():
            out.append(line)
            i += 1
            continue
        indent = len(line) - len(line.lstrip())
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        block_start = j
        while j < len(lines) and (
            not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent
        ):
            j += 1
        block = lines[block_start:j]
        while block and not block[-1].strip():
            block.pop()
        if not block:
            out.append(line)
            i += 1
            continue
        body = textwrap.dedent("\n".join(block))
        intro = stripped[:-2].rstrip()
        if intro.strip():
            out.append(intro if stripped[:-2].endswith(" ") else intro + ":")
        pad = " " * indent
        out += ["", f"{pad}```{_language(body)}"]
        out += [f"{pad}{b}" if b else "" for b in body.split("\n")]
        out += [f"{pad}```", ""]
        i = j
    return "\n".join(out)


def sphinx_to_markdown(obj: griffe.Object, text: str) -> str:
    """A docstring's reStructuredText roles and literal blocks, as Markdown."""
    text = _literal_blocks(text)
    out: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        out.append(line if in_fence else _ROLE.sub(lambda m: _role_to_markdown(obj, m), line))
    return "\n".join(out)


def _runtime_class(cls: griffe.Class) -> type | None:
    try:
        owner: object = importlib.import_module(cls.module.path)
    except ImportError:
        return None
    for name in cls.path.removeprefix(cls.module.path + ".").split("."):
        owner = getattr(owner, name, None)
    return owner if isinstance(owner, type) else None


def _attrs_default(attribute: griffe.Object | griffe.Alias | None) -> str | griffe.Expr | None:
    """The ``default=`` of ``x: T = attrs.field(default=...)``, or the plain ``= ...``."""
    if not isinstance(attribute, griffe.Attribute) or attribute.value is None:
        return None
    value = attribute.value
    if isinstance(value, griffe.ExprCall):
        if value.function.canonical_path not in {"attrs.field", "attr.ib", "attr.attrib"}:
            return value
        for argument in value.arguments:
            if isinstance(argument, griffe.ExprKeyword) and argument.name == "default":
                return argument.value
        return None
    return value


def _attrs_init(cls: griffe.Class) -> None:
    """Add the ``__init__`` attrs generates, built from the runtime class's fields and
    the source's annotations, defaults and attribute docstrings."""
    if "__init__" in cls.members:
        return
    runtime = _runtime_class(cls)
    if runtime is None or not attrs.has(runtime):
        return
    by_alias = {field.alias: field for field in attrs.fields(runtime)}
    parameters = [
        griffe.Parameter("self", kind=griffe.ParameterKind.positional_or_keyword),
    ]
    for param in inspect.signature(runtime).parameters.values():
        field = by_alias.get(param.name)
        source = cls.all_members.get(field.name) if field is not None else None
        annotation: str | griffe.Expr | None = None
        if isinstance(source, griffe.Attribute) and source.annotation is not None:
            annotation = source.annotation
        elif isinstance(param.annotation, str):
            annotation = param.annotation
        default: str | griffe.Expr | None = None
        if param.default is not inspect.Parameter.empty:
            if field is not None and isinstance(field.default, attrs.Factory):  # type: ignore[arg-type]
                factory = getattr(field.default.factory, "__name__", "factory")
                default = f"{factory}()"
            else:
                default = _attrs_default(source) or repr(param.default)
        parameters.append(
            griffe.Parameter(
                param.name,
                annotation=annotation,
                kind=griffe.ParameterKind(param.kind.description),
                default=default,
                docstring=source.docstring if isinstance(source, griffe.Attribute) else None,
            )
        )
    init = griffe.Function(
        "__init__",
        lineno=0,
        endlineno=0,
        parent=cls,
        parameters=griffe.Parameters(*parameters),
        returns="None",
    )
    cls.set_member("__init__", init)


def _objects(obj: griffe.Object) -> list[griffe.Object]:
    """``obj`` and every object defined in it (not the names it imports)."""
    found = [obj]
    for member in obj.members.values():
        if isinstance(member, griffe.Object) and member.parent is obj:
            found += _objects(member)
    return found


class AnyoauthDocstrings(griffe.Extension):
    """Markdown from the docstrings' reST roles, and ``__init__`` for attrs classes."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        objects = _objects(pkg)
        for obj in objects:
            if obj.docstring is not None:
                obj.docstring.value = sphinx_to_markdown(obj, obj.docstring.value)
        for obj in objects:
            if isinstance(obj, griffe.Class):
                _attrs_init(obj)
