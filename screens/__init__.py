"""The Textual terminal UI. Presentation only: every decision and every cluster change lives in `wizard`."""
