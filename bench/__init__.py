"""The benchmark harness of odata-emulator: `python -m bench` (see bench/__main__.py)."""
