"""Trace replay: a recorded request trace, parsed (`replay`) and planned for sending (`schedule`)."""
