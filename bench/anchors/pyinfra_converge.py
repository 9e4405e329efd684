"""Converge with pyinfra 3: 10 directories and 10 files per host (pyinfra's own idempotent ops).

Run as `pyinfra -y --parallel N inventory.py pyinfra_converge.py`.
"""

import io

from pyinfra.operations import files

from workload import directories, files as workload_files

for d in directories():
    files.directory(name=f"directory {d}", path=d, mode="755")

for path, content in workload_files():
    files.put(name=f"file {path}", src=io.StringIO(content), dest=path, mode="644")
