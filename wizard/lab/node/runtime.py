"""The contract between the lab API server and whatever runs the pods (the simulated kubelet).

The API server serves pods' logs, exec, port-forward and proxy, but only the kubelet knows the
containers; this protocol is the narrow seam between them, so each side can be tested alone.
"""

from __future__ import annotations

from typing import Protocol


class PodRuntime(Protocol):
    """What the API server needs from the node side. Every method raises `store.ApiError` (for
    example 404 NotFound, 400 BadRequest) when the pod or container cannot serve the request."""

    def logs(
        self,
        namespace: str,
        pod: str,
        container: str | None,
        tail_lines: int | None,
        previous: bool,
    ) -> str:
        """The container's log text (all of it, or the last `tail_lines` lines)."""
        ...

    def exec(
        self,
        namespace: str,
        pod: str,
        container: str | None,
        command: list[str],
        stdin: bytes,
    ) -> tuple[int, bytes, bytes]:
        """Run `command` in the container: (exit code, stdout, stderr)."""
        ...

    def resolve_port(self, namespace: str, pod: str, port: int) -> tuple[str, int]:
        """The real (host, port) where the pod's container port listens."""
        ...
