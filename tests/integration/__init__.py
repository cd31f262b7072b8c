"""End-to-end tests of rogue-ioc over Channel Access and PV Access (see conftest.py)."""
