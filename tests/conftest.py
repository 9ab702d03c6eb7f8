"""Real services for the suite: Redis, an S3 endpoint (moto server), the live API, a worker."""

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.live", "tests.fixtures.engine"]
