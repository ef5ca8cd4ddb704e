"""What the Python tests share (tests/*/ import it from here): check() counts a pass or prints a
failure; finish() prints the closing line and exits 1 on any failure; load_dump() reads a JSON
stats dump, a failed check if it cannot."""
import json
import sys

passed = failed = 0


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def finish(name):
    print(f"{name}: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


def load_dump(path):
    """The JSON dump at path, or None after a failed check."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        check(False, f"no stats dump at {path}: {e}")
        return None
