"""Tests of the local stand-ins in sandbox/."""
