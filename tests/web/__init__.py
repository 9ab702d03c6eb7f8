"""The web page at / in a real Chromium, against the live API and a real worker."""
