"""What the tool tests share: check(), which shows a detail when a check
fails, finish(), and mpool-report loaded as a module (for its pure
functions)."""
import importlib.machinery
import importlib.util
import sys

counts = {"checks": 0, "failures": 0}


def check(cond, what, detail=""):
    counts["checks"] += 1
    if cond:
        print(f"ok   {what}")
    else:
        counts["failures"] += 1
        print(f"FAIL {what}")
        if detail:
            print("     " + str(detail).replace("\n", "\n     ")[:4000])
    return cond


def finish(name=None):
    checks, failures = counts["checks"], counts["failures"]
    if name:
        print(f"{name}: {checks - failures} passed, {failures} failed")
    else:
        print(f"{checks - failures}/{checks} checks passed")
    sys.exit(1 if failures else 0)


def load_report(path):
    """scripts/mpool-report as the module mpool_report."""
    loader = importlib.machinery.SourceFileLoader("mpool_report", path)
    spec = importlib.util.spec_from_loader("mpool_report", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod
