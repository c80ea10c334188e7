"""Key material for the kubernetes client, kept in memory rather than in files left on disk.

The official client writes `client-key-data` (and the certificates) to temporary files that it
removes only at a clean exit, so a SIGKILL leaves a private key in `$TMPDIR`. Here each `*-data`
value is written to an anonymous in-memory file (`memfd_create`) instead, and the kubeconfig
points the client at `/proc/self/fd/N`: nothing exists on disk, and the kernel frees it when the
process ends, however it ends. Where memfd is missing (not Linux), the files go into a private
0700 directory, 0600 each, removed at exit.
"""

from __future__ import annotations

import atexit
import base64
import copy
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

_DATA_TO_FILE = {
    "clusters": (("cluster", "certificate-authority-data", "certificate-authority"),),
    "users": (
        ("user", "client-certificate-data", "client-certificate"),
        ("user", "client-key-data", "client-key"),
    ),
}
_files: dict[bytes, str] = {}
"""Content -> path; the memfds stay open for the life of the process (the client reopens them)."""
_private_dir: str | None = None


def without_inline_data(kubeconfig: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `kubeconfig` whose `*-data` keys are replaced by paths of in-memory files."""
    config = copy.deepcopy(dict(kubeconfig))
    for section, keys in _DATA_TO_FILE.items():
        for entry in config.get(section) or []:
            for inner, data_key, file_key in keys:
                body = entry.get(inner) if isinstance(entry, dict) else None
                if not isinstance(body, dict) or not body.get(data_key):
                    continue
                content = base64.b64decode(str(body.pop(data_key)))
                body[file_key] = _memory_file(content)
    return config


def _memory_file(content: bytes) -> str:
    path = _files.get(content)
    if path is not None:
        return path
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and os.path.isdir("/proc/self/fd"):
        fd = memfd_create("coredns-wizard-credential", getattr(os, "MFD_CLOEXEC", 0))
        os.write(fd, content)
        path = f"/proc/self/fd/{fd}"
    else:
        path = _private_file(content)
    _files[content] = path
    return path


def _private_file(content: bytes) -> str:
    global _private_dir
    if _private_dir is None:
        _private_dir = tempfile.mkdtemp(prefix="coredns-wizard-")  # mode 0700
        atexit.register(shutil.rmtree, _private_dir, True)
    fd, path = tempfile.mkstemp(dir=_private_dir)  # mode 0600
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    return path
