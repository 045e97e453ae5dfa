"""The command line of the benchmarks' child programs (bench servers and clients)."""

from __future__ import annotations

import argparse

__all__ = ["child_parser"]


def child_parser(module: str, doc: str | None) -> argparse.ArgumentParser:
    """A parser for ``python -m MODULE``, described by the first line of its ``doc``."""
    return argparse.ArgumentParser(prog=f"python -m {module}",
                                   description=doc.splitlines()[0] if doc else None)
