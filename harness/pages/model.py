"""The typed ``result.json`` the pages are drawn from: :mod:`harness.runfolder.record`, by the
names the pages use (a :class:`RunView` is a :class:`~harness.runfolder.record.ResultRecord`)."""

from __future__ import annotations

from harness.runfolder.record import JoinPoint, LatencyTable, ResultRecord, Series, UnfinishedPoint
from harness.runfolder.record import RecordError as PageError
from harness.runfolder.record import load_record as load_run

__all__ = ["JoinPoint", "LatencyTable", "PageError", "RunView", "Series", "UnfinishedPoint",
           "load_run"]

RunView = ResultRecord
