"""The errors a learner or an instructor can meet while getting data, each saying what to do."""

from __future__ import annotations


class DataError(Exception):
    """Base class: something is wrong with a dataset file or with getting one."""


class IntegrityError(DataError):
    """A file is not the official file it claims to be (wrong hash, truncated, an HTML page...)."""


class DatasetNotFoundError(DataError):
    """Files are missing and cannot be downloaded (offline, or every URL failed)."""


class DownloadError(DataError):
    """Every URL for a file failed; the message lists each attempt and why."""
