"""Fan-out with Fabric 3: `uptime` on every host, all hosts at once (ThreadingGroup).

Usage: fabric_uptime.py HOSTS_FILE KEY KNOWN_HOSTS (HOSTS_FILE: one address per line).
Fabric's own defaults otherwise; the known_hosts file is loaded into each connection so that host
keys are checked against the same file the other tools use.
"""

import sys

from fabric import ThreadingGroup

hosts_file, key, known_hosts = sys.argv[1:4]
hosts = open(hosts_file).read().split()
group = ThreadingGroup(*hosts, user="root", connect_kwargs={"key_filename": key})
for connection in group:
    connection.client.load_host_keys(known_hosts)
group.run("uptime")  # raises GroupException (non-zero exit) if any host fails
