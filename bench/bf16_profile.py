#!/usr/bin/python3
"""Sums a Chrome trace of one VelocityUNet forward (convert_bench profile --trace F) per op kind.
Only top-level ops count (an op inside another, e.g. mkldnn_convolution inside conv2d, is part of
its parent), so the shares add up to the profiled forward. Prints a Markdown table and a JSON line.
  bench/bf16_profile.py TRACE.json"""
import json, sys
from collections import defaultdict

events = json.load(open(sys.argv[1]))
if isinstance(events, dict):
    events = events.get("traceEvents", [])
events = [e for e in events if e.get("ph") == "X" and "dur" in e]
KINDS = [("convolution", ("conv2d", "conv3d", "convolution")), ("group_norm", ("group_norm",)),
         ("silu (silu, or sigmoid + mul_)", ("silu", "sigmoid", "mul_")),
         ("upsample (upsample_nearest2d, or empty + expand + copy_)", ("upsample", "interpolate", "copy_", "expand", "empty")),
         ("cat", ("cat",)),
         ("add", ("add",)), ("dtype/layout copies", ("aten::to", "contiguous", "_to_copy", "clone")),
         ("linear/time", ("linear", "addmm", "sin", "cos", "exp", "linspace", "mul")),
         ("attention", ("bmm", "softmax"))]
def kind(name):
    for k, keys in KINDS:
        if any(key in name for key in keys):
            return k
    return "other"
top, per_tid = [], defaultdict(list)
for e in events:
    per_tid[e.get("tid")].append(e)
for tid, es in per_tid.items():
    es.sort(key=lambda e: (float(e["ts"]), -float(e["dur"])))
    end = -1.0
    for e in es:
        ts, dur = float(e["ts"]), float(e["dur"])
        if ts >= end:
            top.append(e)
            end = ts + dur
total = sum(float(e["dur"]) for e in top)
sums, counts, names = defaultdict(float), defaultdict(int), defaultdict(set)
for e in top:
    k = kind(e["name"])
    sums[k] += float(e["dur"])
    counts[k] += 1
    names[k].add(e["name"])
print("| op kind | calls | ms | share |\n|---|---|---|---|")
for k in sorted(sums, key=lambda k: -sums[k]):
    print(f"| {k} ({', '.join(sorted(names[k]))}) | {counts[k]} | {sums[k] / 1000:.1f} | {100 * sums[k] / total:.1f} % |")
print(f"| total (top-level ops) | {len(top)} | {total / 1000:.1f} | 100 % |")
print(json.dumps({"bench": "forward_profile_kinds", "total_ms": total / 1000,
                  "ms": {k: v / 1000 for k, v in sums.items()}}))
