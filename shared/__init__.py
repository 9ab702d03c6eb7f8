"""Server-side code the API and the worker share: settings, the job store, storage, the queue.

Only server processes install this (the ``server`` extra); the client SDK (``client``) and the
contract (``contract``) never import it, which ``make lint`` checks.
"""
