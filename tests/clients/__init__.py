"""The Python client and the nst CLI against the live API and a real worker."""
