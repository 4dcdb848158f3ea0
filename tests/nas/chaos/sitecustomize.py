"""Test-only: with NAS_CHAOS_SLOW_CHECKPOINT set, Tune uploads checkpoints slowly.

On ``PYTHONPATH`` for the chaos test's searches, so that the test can kill the driver (and its
Ray workers) while a checkpoint folder in the storage is half written. Python imports
``sitecustomize`` at start-up in every process of the search, Ray's workers included.
"""

import os
import sys

if os.environ.get("NAS_CHAOS_SLOW_CHECKPOINT"):
    import importlib.abc
    import importlib.util
    import time

    TARGET = "ray.train._internal.storage"

    def slowly(copy_files):
        """Tune's checkpoint upload, a file at a time, each half written for half a second."""

        def copy_slowly(source, destination, source_filesystem=None, **kwargs):
            if "/checkpoint_" not in destination or not os.path.isdir(source):
                return copy_files(source, destination, source_filesystem, **kwargs)
            fs = kwargs["destination_filesystem"]
            for name in sorted(os.listdir(source)):
                with open(os.path.join(source, name), "rb") as f:
                    data = f.read()
                with fs.open_output_stream(f"{destination}/{name}") as out:
                    out.write(data[: len(data) // 2])
                    out.flush()
                    time.sleep(0.5)
                    out.write(data[len(data) // 2 :])
            return None

        return copy_slowly

    class PatchOnImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != TARGET:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            run_module = spec.loader.exec_module

            def exec_module(module):
                run_module(module)
                module._pyarrow_fs_copy_files = slowly(module._pyarrow_fs_copy_files)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, PatchOnImport())
