"""pytest configuration at the repository root, for the nbval run over ``book/*.ipynb``: its
kernels talk over IPC (local sockets) instead of TCP ports, as scripts/execute_notebooks.py's
do, so that ipykernel has no unencrypted TCP connection to warn about."""

import os
import tempfile

try:
    import nbval.kernel
    from jupyter_client.manager import KernelManager
except ImportError:  # nbval is only needed for the notebooks
    pass
else:
    class IPCKernelManager(KernelManager):
        """A KernelManager whose kernels use IPC, their socket files in the temp folder."""

        def __init__(self, **kwargs):
            folder = tempfile.mkdtemp(prefix="nbval-kernel-")
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("connection_file", os.path.join(folder, "kernel.json"))
            super().__init__(**kwargs)

    nbval.kernel.KernelManager = IPCKernelManager
