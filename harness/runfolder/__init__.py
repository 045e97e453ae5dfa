"""The run folder: one owner of every file name in it (:class:`RunFolder`), the typed record of
its ``result.json`` (:mod:`harness.runfolder.record`), the live readers that follow its growing
files (:mod:`harness.runfolder.live`) and the readers of what a run recorded, which the run's
final verdict and ``harness report --rejudge`` both judge (:mod:`harness.runfolder.recorded`).

Only :mod:`harness.runfolder.folder` is imported here: the modules that write the files need
their names and nothing else, and sit below the record and the rejudge in the layering.
"""

from harness.runfolder.folder import RunFolder

__all__ = ["RunFolder"]
