"""Webhook delivery, a consumer of its own (no engine, no GPU).

``consumer`` is the Celery entry point, ``delivery`` signs, posts, records and retries,
``http_post`` bounds one attempt in time, and ``key_slots`` keeps one key's backlog from
holding other keys up.
"""
