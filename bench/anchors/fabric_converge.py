"""Converge with Fabric 3: 10 directories and 10 files per host, changing only what differs.

Usage: fabric_converge.py HOSTS_FILE KEY KNOWN_HOSTS

Fabric has no idempotent operations: this is what a careful Fabric user writes: test each
directory before creating it, read each file and upload it only when its content differs. Fabric's
Group runs only single commands in parallel, so hosts run in a thread pool of one worker per host
(Fabric's own documentation suggests this for parallel custom code).
"""

import io
import sys
from concurrent.futures import ThreadPoolExecutor

from fabric import Connection

from workload import directories, files

hosts_file, key, known_hosts = sys.argv[1:4]
hosts = open(hosts_file).read().split()


def converge(address: str) -> int:
    """Converges one host; returns how many items changed."""
    c = Connection(address, user="root", connect_kwargs={"key_filename": key})
    c.client.load_host_keys(known_hosts)
    changed = 0
    with c:
        for d in directories():
            if c.run(f"test -d {d}", warn=True, hide=True).failed:
                c.run(f"mkdir -m 755 {d}", hide=True)
                changed += 1
        for path, content in files():
            current = c.run(f"cat {path}", warn=True, hide=True)
            if current.failed or current.stdout != content:
                c.put(io.BytesIO(content.encode()), path)
                c.run(f"chmod 644 {path}", hide=True)
                changed += 1
    return changed


with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
    changes = list(pool.map(converge, hosts))
print(f"{len(hosts)} hosts, {sum(changes)} items changed")
