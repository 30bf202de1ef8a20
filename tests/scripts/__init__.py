"""Tests of the scripts/ tools."""
