"""The service's contract: what a job, its parameters, its errors, its webhooks and the API's
answers (``resources``) are.

Everything here is plain pydantic and the standard library, so the client install, the API and
the worker all read the same definitions; nothing here imports a server library.
"""
