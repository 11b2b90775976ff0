"""Packaging hook for the native KVM backend: cffi builds it during install."""
from setuptools import setup

setup()
