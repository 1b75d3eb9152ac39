"""Last step of regenerating: move the ~1 MiB vectors of each <provider>.json into a gzipped
<provider>.large.json.gz next to it, so the repository stays small (their filler text
compresses ~100x). The Rust tests read both files.

    python3 generate/split_large.py   # from tests/vectors/
"""
import base64
import glob
import gzip
import json

LARGE = 64 * 1024

for path in sorted(glob.glob("*.json")):
    vectors = json.load(open(path))
    small, large = [], []
    for v in vectors:
        size = len(base64.b64decode(v["request"]["body_b64"]))
        (large if size > LARGE else small).append(v)
    if not large:
        continue
    with open(path, "w") as f:
        json.dump(small, f, indent=1)
        f.write("\n")
    with gzip.GzipFile(path.replace(".json", ".large.json.gz"), "wb", mtime=0) as f:
        f.write(json.dumps(large, indent=1).encode())
    print(f"{path}: {len(small)} vectors, {len(large)} large")
