"""pytest configuration at the repository root, for the nbval run over ``book/*.ipynb``: its
kernels talk over IPC (local sockets) instead of TCP ports, as scripts/execute_notebooks.py's
do, so that ipykernel has no unencrypted TCP connection to warn about."""

import atexit
import os
import shutil
import tempfile
import uuid

try:
    import nbval.kernel
    from jupyter_client.manager import KernelManager
except ImportError:  # nbval is only needed for the notebooks
    pass
else:
    FOLDER = tempfile.mkdtemp(prefix="nbval-kernels-")
    atexit.register(shutil.rmtree, FOLDER, ignore_errors=True)

    class IPCKernelManager(KernelManager):
        """A KernelManager whose kernels use IPC, their socket files in one temp folder."""

        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("connection_file",
                              os.path.join(FOLDER, f"kernel-{uuid.uuid4().hex}.json"))
            super().__init__(**kwargs)

    nbval.kernel.KernelManager = IPCKernelManager
