"""The Python client SDK, the base ``pip install``: submit, follow, download and cancel jobs.

It needs only ``contract`` and the base dependencies (requests, pydantic); import-linter keeps
every server module out of its reach.
"""

from client.api_client import ApiError, Client, JobEnded, JobHandle, JobPage, ServiceUnreachable

__all__ = ["ApiError", "Client", "JobEnded", "JobHandle", "JobPage", "ServiceUnreachable"]
