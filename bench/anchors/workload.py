"""The converge workload, shared by the anchors written in Python (Fabric, pyinfra).

10 directories and 10 small files per host: /srv/dmbench/dNN (mode 755) holding file.txt
(mode 644) with the content "dm bench file NN\n". bench/fabfile (dm) and converge.yml (Ansible)
spell out the same paths, modes and contents.
"""

ROOT = "/srv/dmbench"
COUNT = 10


def directories() -> list[str]:
    """The directories, in creation order."""
    return [f"{ROOT}/d{i:02d}" for i in range(COUNT)]


def files() -> list[tuple[str, str]]:
    """The files as (path, content), in creation order."""
    return [(f"{ROOT}/d{i:02d}/file.txt", f"dm bench file {i:02d}\n") for i in range(COUNT)]
