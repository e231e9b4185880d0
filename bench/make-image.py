#!/usr/bin/env python3
"""Writes an OCI image layout with random layers, for seeding registries in the demo and benchmarks.

usage: make-image.py DIR TAG [--layers 5x100M,1x4K] [--platforms linux/amd64,linux/arm64] [--seed N] [--base-seed N]

One platform gives a plain image manifest; several give an OCI index whose children share the first
layer (like real multi-arch images sharing a base). With --base-seed N the first layer is the one an
image made with --seed N (same --layers) has: images that share a base, like the apps of a release. Layer bytes are pseudo-random (incompressible) and
written in 1 MiB pieces, so a 1 GiB layer never sits in memory.
"""
import argparse, hashlib, json, os, random

def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(s[:-1]) * mult[s[-1]] if s[-1] in mult else int(s)

def write_blob(root, data_iter):
    h = hashlib.sha256()
    tmp = os.path.join(root, "blobs", "sha256", ".tmp")
    size = 0
    with open(tmp, "wb") as f:
        for chunk in data_iter:
            h.update(chunk); f.write(chunk); size += len(chunk)
    digest = h.hexdigest()
    os.replace(tmp, os.path.join(root, "blobs", "sha256", digest))
    return "sha256:" + digest, size

def random_bytes(rng, size):
    left = size
    while left > 0:
        n = min(left, 1 << 20)
        yield rng.randbytes(n)
        left -= n

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir"); ap.add_argument("tag")
    ap.add_argument("--layers", default="3x1M")
    ap.add_argument("--platforms", default="linux/amd64")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--base-seed", type=int, default=None)
    a = ap.parse_args()
    os.makedirs(os.path.join(a.dir, "blobs", "sha256"), exist_ok=True)
    rng = random.Random(a.seed)
    specs = []
    for part in a.layers.split(","):
        n, size = part.split("x")
        specs += [parse_size(size)] * int(n)
    platforms = a.platforms.split(",")
    shared = None
    manifests = []
    for i, plat in enumerate(platforms):
        os_, arch, *variant = plat.split("/")
        layers = []
        for j, size in enumerate(specs):
            if j == 0 and shared is not None:
                layers.append(shared); continue
            source = random.Random(a.base_seed) if j == 0 and a.base_seed is not None else rng
            d, s = write_blob(a.dir, random_bytes(source, size))
            desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}
            layers.append(desc)
            if j == 0: shared = desc
        config = {"architecture": arch, "os": os_, "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]},
                  "config": {"Labels": {"made-by": "imgpromote make-image.py", "seed": str(a.seed)}}}
        if variant: config["variant"] = variant[0]
        cd, cs = write_blob(a.dir, [json.dumps(config, sort_keys=True).encode()])
        m = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
             "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs}, "layers": layers}
        md, ms = write_blob(a.dir, [json.dumps(m, sort_keys=True).encode()])
        p = {"architecture": arch, "os": os_}
        if variant: p["variant"] = variant[0]
        manifests.append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms, "platform": p})
    if len(manifests) == 1:
        top = dict(manifests[0]); top.pop("platform")
    else:
        idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
        d, s = write_blob(a.dir, [json.dumps(idx, sort_keys=True).encode()])
        top = {"mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": s}
    top["annotations"] = {"org.opencontainers.image.ref.name": a.tag}
    with open(os.path.join(a.dir, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [top]}, f)
    with open(os.path.join(a.dir, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(top["digest"])

if __name__ == "__main__":
    main()
