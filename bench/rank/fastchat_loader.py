"""Load FastChat's rating code from a source tree at run time (never vendored).

FASTCHAT_SRC (or --fastchat-src) is a directory holding
fastchat/serve/monitor/rating_systems.py, e.g. $PREFER_REFVENV/fastchat-src/0e6d3e4b,
made from `fetch github:lm-sys/FastChat` (see bench/README.md).
"""
import ast
import importlib.util
import math
import os
import sys
from collections import defaultdict

DEFAULT_SRC = os.environ.get("FASTCHAT_SRC", os.path.join(os.environ.get("PREFER_REFVENV", "../refvenv"), "fastchat-src", "0e6d3e4b"))


def rating_systems(src=DEFAULT_SRC):
    """Import fastchat/serve/monitor/rating_systems.py (current FastChat) as a module.
    It is registered in sys.modules so multiprocessing can pickle its functions."""
    path = os.path.join(src, "fastchat/serve/monitor/rating_systems.py")
    if not os.path.exists(path):
        raise SystemExit(f"{path} not found: pass --fastchat-src (see bench/README.md)")
    name = "fastchat_rating_systems"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def functions(path, names):
    """Exec only the named top-level functions of an elo_analysis.py (its module-level
    imports pull plotly, pytz, fastchat.model ..., which these functions do not use)."""
    import numpy as np
    import pandas as pd
    from tqdm import tqdm

    tree = ast.parse(open(path).read(), path)
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in names]
    missing = set(names) - {n.name for n in body}
    if missing:
        raise SystemExit(f"{path}: no function(s) {sorted(missing)}")
    ns = {"np": np, "pd": pd, "math": math, "defaultdict": defaultdict, "tqdm": tqdm}
    exec(compile(ast.Module(body=body, type_ignores=[]), path, "exec"), ns)
    return ns


def commit(src=DEFAULT_SRC):
    f = os.path.join(src, "COMMIT")
    return open(f).read().split()[0] if os.path.exists(f) else "unknown"
