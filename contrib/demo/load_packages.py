#!/usr/bin/python3
"""load_packages.py: the Debian package catalog of this machine as CSV rows.

Owns: parsing deb822 stanzas from apt's package lists (/var/lib/apt/lists/
*_Packages, lz4/gz/xz/plain, decompressed with apt-helper) and dpkg's
/var/lib/dpkg/status; writing one CSV row per package name (COPY ... CSV):
  package, version, architecture, section, priority, maintainer,
  installed_size_kb, depends (a text[] literal), homepage, summary,
  description, installed
Invariant: package names are unique in the output (the table's primary key);
an installed package's dpkg stanza wins (it carries the long description),
otherwise the first list that names it.  Nothing here was written by us: it
is the machine's real data.
"""
import csv
import glob
import subprocess
import sys

FIELDS = ["package", "version", "architecture", "section", "priority", "maintainer",
          "installed_size_kb", "depends", "homepage", "summary", "description", "installed"]


def stanzas(text):
    cur, key = {}, None
    for line in text.splitlines():
        if not line.strip():
            if cur:
                yield cur
            cur, key = {}, None
        elif line[0] in " \t" and key:
            cur[key] += "\n" + (line[1:] if line.strip() != "." else "")
        elif ":" in line:
            key, _, value = line.partition(":")
            key = key.strip()
            cur[key] = value.strip()
    if cur:
        yield cur


def read_list(path):
    if path.endswith(("lz4", "gz", "xz", "bz2", "zst")):
        r = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", path], capture_output=True)
        if r.returncode != 0:
            return ""
        return r.stdout.decode("utf-8", "replace")
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def pg_array(items):
    return "{" + ",".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "}"


def row(st, installed):
    desc = st.get("Description", "")
    summary = desc.split("\n", 1)[0]
    deps = [d.strip().split(" ")[0] for d in st.get("Depends", "").split(",") if d.strip()]
    size = st.get("Installed-Size", "")
    return [st["Package"], st.get("Version", ""), st.get("Architecture", ""), st.get("Section", ""),
            st.get("Priority", ""), st.get("Maintainer", ""), size if size.isdigit() else "",
            pg_array(deps), st.get("Homepage", ""), summary, desc, "t" if installed else "f"]


def main():
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    seen = {}
    try:
        with open("/var/lib/dpkg/status", encoding="utf-8", errors="replace") as f:
            for st in stanzas(f.read()):
                if "Package" in st and "install ok installed" in st.get("Status", ""):
                    seen.setdefault(st["Package"], row(st, True))
    except OSError:
        pass
    for path in sorted(glob.glob("/var/lib/apt/lists/*_Packages*")):
        for st in stanzas(read_list(path)):
            if "Package" in st and st["Package"] not in seen:
                seen[st["Package"]] = row(st, False)
    w = csv.writer(sys.stdout)
    for i, name in enumerate(sorted(seen)):
        if limit and i >= limit:
            break
        w.writerow(seen[name])
    return 0 if seen else 1


if __name__ == "__main__":
    sys.exit(main())
