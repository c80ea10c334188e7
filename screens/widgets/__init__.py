"""Widgets: render data handed to them; no engine calls, no I/O."""
