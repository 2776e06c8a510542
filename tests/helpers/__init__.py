"""Helpers the tests share (fixtures stay in conftest.py): servers, services, error checks."""
