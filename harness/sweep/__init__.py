"""Sensitivity sweep: the smallest injected latency at which a mode FAILs N/N (its floor),
or the largest at which it still PASSes N/N (its ceiling), found by bisection.

Modules, one concern each: :mod:`~harness.sweep.axis` (the range, its grid, the scenario at a
point), :mod:`~harness.sweep.points` (what a run and a point record),
:mod:`~harness.sweep.search` (the bisection, with any runner), :mod:`~harness.sweep.document`
(``sweep.json`` read back, the terminal table) and :mod:`~harness.headless.sweep_runs` (real runs,
``sweep.json`` kept up to date, signals). The page is :mod:`harness.pages.sweep_page`.

This package imports nothing on its own, so the report package can read ``sweep.json``
without pulling in the run machinery.
"""
