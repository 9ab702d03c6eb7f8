"""The service's contract: what a job, its parameters, its errors and its webhooks are.

Everything here is plain pydantic and the standard library, so the client install, the API and
the worker all read the same definitions; nothing here imports a server library.
"""
