"""The processes the suite and the benchmarks start, in one place: ports, waits, redis-server,
moto's S3 server, the API (in a thread or under gunicorn) and Celery workers.

Why a package of its own: tests/ and benchmarks/ each grew launchers of their own, and they
drifted (three readiness checks catching three different exception sets, two ``int_list``
parsers that disagreed on ``"1,,2"``). Development only: pyproject's setuptools include list
names the product packages, so this never ships in a wheel.

Layering, so that ``benchmarks/gpu/e2e.py`` runs on a machine that carries only the standard
library and requests: ``ports``, ``waits``, ``processes`` and ``arguments`` import nothing else;
the other modules import the library of the service they start (redis, moto, werkzeug).
"""
